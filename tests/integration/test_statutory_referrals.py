"""Statutory flags as intake records them, against a real database: raised by a decision,
withdrawn by a later full assessment that no longer raises them (unless someone acted),
raised again, kept through a one-route change, and off the worklist once a supervisor
records the referral as made."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from schemas.refusals import Refused
from services.plumbing.cursors import Cursors
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers import statutory, submission, views
from tests.support.consuming import applied_at_intake
from tests.support.intake import migrated_pool, router_decided
from tests.support.referrals import referral
from tests.support.services import TEST_VAULT

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CHILD = "children_services_referral"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(database_url) as pool:
        yield pool


async def _referral(pool: asyncpg.Pool) -> uuid.UUID:
    submitted = await submission.submit_referral(
        pool,
        ReferralRequest.model_validate(referral(subject__age=14)),
        submitted_by="test",
        idempotency_key=None,
        identity_key=b"k" * 32,
        vault=TEST_VAULT,
    )
    return submitted.referral_id


async def _decide(
    pool: asyncpg.Pool, referral_id: uuid.UUID, trigger: str, flags: list[str], hours: int
) -> None:
    event = router_decided(
        referral_id,
        decided_at=T0 + timedelta(hours=hours),
        policy_version="2026-12-01.1",
        status="no_service" if trigger != "route_rejected" else "routed",
        reason="consent_refused" if trigger != "route_rejected" else None,
        flags=flags,
        trigger=trigger,
    )
    await applied_at_intake(pool, event)


async def _statuses(pool: asyncpg.Pool, referral_id: uuid.UUID) -> dict[str, str]:
    view: dict[str, Any] = await views.referral_view(pool, referral_id)
    return {s["flag"]: s["status"] for s in view["statutory_referrals"]}


async def _on_worklist(pool: asyncpg.Pool, referral_id: uuid.UUID) -> list[str] | None:
    page = await views.worklist(
        pool,
        status=None,
        service=None,
        local_authority=None,
        breached=None,
        flag=None,
        cursor=None,
        limit=200,
        cursors=Cursors("a test secret of thirty-two characters", "intake-worklist"),
        action_required=True,
    )
    found = [i for i in page["items"] if i["referral_id"] == str(referral_id)]
    return found[0]["actions_outstanding"] if found else None


async def test_a_statutory_flag_stands_until_recorded_or_no_longer_raised(
    pool: asyncpg.Pool,
) -> None:
    referral_id = await _referral(pool)
    await _decide(pool, referral_id, "received", [CHILD, "sarc_urgent"], 0)
    assert await _statuses(pool, referral_id) == {CHILD: "outstanding"}  # sarc_urgent: no duty
    assert await _on_worklist(pool, referral_id) == [CHILD]

    await _decide(pool, referral_id, "consent_given", [], 1)
    assert await _statuses(pool, referral_id) == {CHILD: "withdrawn"}
    assert await _on_worklist(pool, referral_id) is None

    await _decide(pool, referral_id, "consent_refused", [CHILD, "duty_to_notify"], 2)
    assert await _statuses(pool, referral_id) == {
        CHILD: "outstanding",
        "duty_to_notify": "outstanding",
    }

    # A change to one route keeps the assessment's flags (they accumulate).
    await _decide(pool, referral_id, "route_rejected", ["supervisor_review"], 3)
    assert set(await _on_worklist(pool, referral_id) or []) == {CHILD, "duty_to_notify"}

    recorded = await statutory.record_made(
        pool,
        referral_id,
        flag=CHILD,
        made_at=T0 + timedelta(hours=4),
        reference="MASH/2026/0412",
        supervisor="supervisor-7",
    )
    assert recorded["status"] == "made"
    assert recorded["recorded_by"] == "supervisor-7"
    assert await _on_worklist(pool, referral_id) == ["duty_to_notify"]
    with pytest.raises(Refused, match="already recorded"):
        await statutory.record_made(
            pool,
            referral_id,
            flag=CHILD,
            made_at=T0,
            reference="MASH/2026/0413",
            supervisor="supervisor-8",
        )
    with pytest.raises(Refused, match="nothing to record"):
        await statutory.record_made(
            pool,
            referral_id,
            flag="adult_safeguarding_referral",
            made_at=T0,
            reference="ASC-2026-1",
            supervisor="supervisor-7",
        )

    # A later assessment without the flags: the one made stays made, the other is withdrawn.
    await _decide(pool, referral_id, "consent_given", [], 5)
    assert await _statuses(pool, referral_id) == {CHILD: "made", "duty_to_notify": "withdrawn"}
    view = await views.referral_view(pool, referral_id)
    [entry] = [t for t in view["timeline"] if t["event"] == "statutory_referral_recorded"]
    assert (entry["flag"], entry["reference"], entry["by"]) == (
        CHILD,
        "MASH/2026/0412",
        "supervisor-7",
    )
