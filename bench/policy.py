"""Policy evaluation speed, in process: decisions per second for the version in force,
over a fixed, seeded mix of synthetic referrals. ``make bench`` runs it."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.calendar import england_today
from schemas.codes import CceIndicator, ConsentStatus, CrimeType, LocalAuthority, Need, Role, Source
from schemas.events import (
    AssessmentFacts,
    Dash,
    DrugPossession,
    IncidentFacts,
    ReferralFacts,
    SubjectFacts,
)
from services.router.adapters.policy_files import load_book

REPORTED = datetime(2026, 11, 16, 10, tzinfo=UTC)


def synthetic(rng: random.Random) -> ReferralFacts:
    crimes = rng.sample(list(CrimeType), k=rng.choice([1, 1, 1, 2]))
    return ReferralFacts(
        referral_id=uuid.UUID(int=rng.getrandbits(128)),
        received_at=REPORTED + timedelta(hours=2),
        reported_at=REPORTED,
        source=rng.choice(list(Source)),
        local_authority=rng.choice(list(LocalAuthority)),
        subject=SubjectFacts(
            role=rng.choice(list(Role)),
            age=rng.randint(5, 80),
            persistently_targeted=rng.random() < 0.1,
        ),
        incident=IncidentFacts(
            crime_types=crimes,
            occurred_at=REPORTED - timedelta(days=rng.randint(0, 60)),
            drug_possession=DrugPossession(
                personal_use=True,
                intent_to_supply_suspected=rng.random() < 0.2,
                previously_disengaged_from_diversion=False,
            )
            if CrimeType.DRUG_POSSESSION in crimes
            else None,
        ),
        assessment=AssessmentFacts(
            needs=rng.sample([n for n in Need if n is not Need.NONE], k=rng.randint(0, 2))
            or [Need.NONE],
            dash=Dash(yes_count=rng.randint(0, 24)) if CrimeType.DOMESTIC_ABUSE in crimes else None,
            cce_indicators=rng.sample(list(CceIndicator), k=rng.choice([0, 0, 0, 1, 2])),
            threat_to_life=rng.random() < 0.03,
            hospital_setting=rng.random() < 0.05,
        ),
        consent=rng.choice(list(ConsentStatus)),
    )


def run(decisions: int, seed: int) -> dict[str, Any]:
    policy = load_book().in_force(england_today())
    rng = random.Random(seed)  # noqa: S311 - a repeatable mix, not a secret
    referrals = [synthetic(rng) for _ in range(min(decisions, 2000))]
    for facts in referrals[:200]:  # warm-up
        policy.decide(facts)
    timings = []
    started = time.perf_counter()
    for n in range(decisions):
        t0 = time.perf_counter()
        policy.decide(referrals[n % len(referrals)])
        timings.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    timings.sort()
    return {
        "benchmark": "policy_evaluation_in_process",
        "policy_version": policy.id,
        "decisions": decisions,
        "seconds": round(elapsed, 3),
        "decisions_per_second": round(decisions / elapsed),
        "per_decision_us": {
            "p50": round(statistics.median(timings) * 1e6, 1),
            "p99": round(timings[int(len(timings) * 0.99)] * 1e6, 1),
            "max": round(timings[-1] * 1e6, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(json.dumps(run(args.decisions, args.seed)))


if __name__ == "__main__":
    main()
