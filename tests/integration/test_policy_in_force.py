"""Which policy version decides, against the router's real database: the one in force on the
day (London) the decision is made. A referral decided before 2026-12-01 is decided by
version 1, from that midnight by version 2; one received before and re-assessed after is
re-assessed by version 2. The router's clock is set, so the suite runs on any day."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas import events, topics
from schemas.codes import ConsentStatus
from schemas.envelope import CloudEvent
from services.plumbing import db, migrations
from services.router import handlers
from services.router.adapters.policy_files import load_book
from tests.support.casebook import V1, V2
from tests.support.consuming import applied_by_router

ROUTER_MIGRATIONS = Path(handlers.__file__).parent / "migrations"
LAST_MINUTE_OF_V1 = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)  # GMT: London = UTC
FIRST_MINUTE_OF_V2 = datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrations.apply(database_url, "router", migrations.components(ROUTER_MIGRATIONS))
    created = await db.create_pool(database_url, "router", application_name="test")
    yield created
    await created.close()


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _facts(received_at: datetime, **changes: Any) -> events.ReferralFacts:
    base: dict[str, Any] = {
        "referral_id": uuid.uuid4(),
        "received_at": received_at,
        "reported_at": received_at - timedelta(hours=2),
        "source": "police_officer",
        "local_authority": "worcestershire",
        "subject": events.SubjectFacts(role="victim", age=14),
        "incident": events.IncidentFacts(crime_types=["child_sexual_exploitation"]),
        "assessment": events.AssessmentFacts(needs=["emotional_support"]),
        "consent": "not_asked",
    }
    return events.ReferralFacts(**{**base, **changes})


def _received(facts: events.ReferralFacts) -> CloudEvent[events.ReferralReceived]:
    return CloudEvent(
        source="referral_intake",
        type=events.REFERRAL_RECEIVED,
        subject=str(facts.referral_id),
        data=events.ReferralReceived(facts=facts),
    )


async def _published(pool: asyncpg.Pool, referral_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT topic, payload FROM outbox WHERE key = $1 ORDER BY id", str(referral_id)
    )
    return [{"topic": r["topic"], **r["payload"]["data"]} for r in rows]


async def _decisions(pool: asyncpg.Pool, referral_id: uuid.UUID) -> list[dict[str, Any]]:
    return [r for r in await _published(pool, referral_id) if r["topic"] == topics.REFERRAL_ROUTED]


def _router(pool: asyncpg.Pool, clock: Callable[[], datetime]) -> handlers.Router:
    return handlers.Router(pool=pool, policies=load_book(), clock=clock)


async def test_the_version_in_force_on_the_day_of_the_decision_decides(
    pool: asyncpg.Pool,
) -> None:
    clock = Clock(LAST_MINUTE_OF_V1)
    router = _router(pool, clock)
    before = _facts(LAST_MINUTE_OF_V1 - timedelta(minutes=5), consent="given")
    await applied_by_router(router, _received(before))
    clock.at = FIRST_MINUTE_OF_V2
    after = _facts(FIRST_MINUTE_OF_V2, consent="given")
    await applied_by_router(router, _received(after))

    [v1] = await _decisions(pool, before.referral_id)
    [v2] = await _decisions(pool, after.referral_id)
    assert v1["policy_version"] == V1
    assert "children_services_referral" not in v1["flags"]  # version 1: she has the ISVA
    assert v2["policy_version"] == V2
    assert "children_services_referral" in v2["flags"]  # version 2: exploitation, whatever else
    logged = await pool.fetch(
        "SELECT referral_id, policy_version FROM decisions WHERE referral_id = ANY($1::uuid[])",
        [before.referral_id, after.referral_id],
    )
    assert {r["referral_id"]: r["policy_version"] for r in logged} == {
        before.referral_id: V1,
        after.referral_id: V2,
    }


async def test_a_referral_received_under_version_1_is_reassessed_under_version_2(
    pool: asyncpg.Pool,
) -> None:
    """Consent comes after midnight: the duties in force then apply to the new decision."""
    clock = Clock(LAST_MINUTE_OF_V1 - timedelta(hours=1))
    router = _router(pool, clock)
    facts = _facts(clock.at - timedelta(minutes=1))  # a 14-year-old, exploited, not yet asked
    await applied_by_router(router, _received(facts))
    [first] = await _decisions(pool, facts.referral_id)
    assert first["policy_version"] == V1
    assert first["status"] == "awaiting_consent"

    clock.at = FIRST_MINUTE_OF_V2 + timedelta(days=1)
    consent_given: CloudEvent[events.ReassessmentRequested] = CloudEvent(
        source="referral_intake",
        type=events.REFERRAL_REASSESS,
        subject=str(facts.referral_id),
        data=events.ReassessmentRequested(
            trigger="consent_given",
            facts=facts.model_copy(update={"consent": ConsentStatus.GIVEN}),
            open_routes=[
                events.OpenRoute(
                    route_id=uuid.UUID(r["route_id"]),
                    service=r["service"],
                    sub_service=r["sub_service"],
                    priority=r["priority"],
                    status="requested",
                    consent_basis=r["consent_basis"],
                )
                for r in first["routes"]
            ],
        ),
    )
    await applied_by_router(router, consent_given)

    _, second = await _decisions(pool, facts.referral_id)
    assert second["policy_version"] == V2
    assert second["trigger"] == "consent_given"
    assert [(r["service"], r["sub_service"]) for r in second["routes"]] == [("ISVA", "child")]
    # Version 1 dropped the flag once the child had a service; version 2 keeps it.
    assert "children_services_referral" in second["flags"]


async def test_every_provider_that_may_contact_the_person_is_told_not_to_contact_family(
    pool: asyncpg.Pool,
) -> None:
    router = _router(pool, Clock(FIRST_MINUTE_OF_V2 + timedelta(days=3)))
    facts = _facts(
        FIRST_MINUTE_OF_V2 + timedelta(days=3),
        subject=events.SubjectFacts(role="victim", age=19),
        incident=events.IncidentFacts(crime_types=["forced_marriage", "sexual_offence"]),
        assessment=events.AssessmentFacts(
            needs=["safety_planning"], dash=events.Dash(yes_count=15), children_in_household=1
        ),
        consent="given",
    )
    await applied_by_router(router, _received(facts))

    work_items = [
        r for r in await _published(pool, facts.referral_id) if r["topic"].startswith("queue.")
    ]
    assert {w["service"] for w in work_items} == {"IDVA", "ISVA"}
    for item in work_items:
        assert "do_not_contact_family" in item["flags"], item["service"]
        assert "duty_to_notify" not in item["flags"]
    idva = next(w for w in work_items if w["service"] == "IDVA")
    assert "marac_referral_required" in idva["flags"]
    assert idva["facts"]["assessment.children_in_household"] == 1
    isva = next(w for w in work_items if w["service"] == "ISVA")
    assert "assessment.children_in_household" not in isva["facts"]
    [decision] = await _decisions(pool, facts.referral_id)
    assert "children_services_referral" in decision["flags"]  # the household's child
