"""``make demo`` shows every provider at work even in one minute (issue 15): its opening
round is one referral per provider service, each of which the policy in force routes to that
service, ISVA's (whose work arrives by signed webhook) first."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from deploy.demo import referrals
from schemas.calendar import england_today
from services.referral_intake.domain.referral import ReferralRequest, coded_facts
from services.router.adapters.policy_files import load_book
from services.router.domain.explanation import explain

BOOK = load_book()
SERVICE_OF = {
    "sexual_offence": "ISVA",
    "domestic_abuse_high_risk": "IDVA",
    "child_criminal_exploitation": "CLIMB",
    "drug_possession": "DIVERT",
    "victim_with_needs": "VAL",
}


def test_the_opening_round_covers_every_service_isva_first() -> None:
    assert sorted(SERVICE_OF[k] for k in referrals.OPENING_ROUND) == sorted(
        ["VAL", "IDVA", "ISVA", "CLIMB", "DIVERT"]
    )
    assert SERVICE_OF[referrals.OPENING_ROUND[0]] == "ISVA"


@pytest.mark.parametrize("seed", range(25))
def test_each_opening_referral_reaches_its_service(seed: int) -> None:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    policy = BOOK.in_force(england_today())
    for n, kind in enumerate(referrals.OPENING_ROUND):
        _, body = referrals.opening(rng, now, n)
        facts = coded_facts(ReferralRequest.model_validate(body), uuid.uuid4(), now)
        answer = explain(policy.decide(facts))
        services = {route["service"] for route in answer["routes"]}
        assert SERVICE_OF[kind] in services, (kind, body, answer)
