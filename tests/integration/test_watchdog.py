"""The SLA watchdog against a real database, with a clock the test controls: each breach is
reported once, also when two watchdogs run at once or one dies part-way. Reconciliation,
the other check on the clock: a route no adapter reported having is re-driven."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing import db, outbox
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.bootstrap import build
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers import decisions, reconciliation, submission, watchdog
from services.referral_intake.settings import IntakeSettings
from tests.support.referrals import referral
from tests.support.services import TEST_VAULT, common_env

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
ACK = T0 + timedelta(hours=4)
SECOND_ACK = T0 + timedelta(hours=8)
CONTACT = T0 + timedelta(hours=48)
CODE = T0 + timedelta(days=2)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    settings = IntakeSettings(**common_env(database_url, KafkaAccess("127.0.0.1:1")))  # type: ignore[arg-type]
    await build(settings).migrate()
    pool = await db.create_pool(database_url, "intake", application_name="test")
    yield pool
    await pool.close()


async def _routed_referral(pool: asyncpg.Pool, status: str = "requested") -> uuid.UUID:
    submitted = await submission.submit_referral(
        pool,
        ReferralRequest.model_validate(referral()),
        submitted_by="test",
        idempotency_key=None,
        identity_key=b"k" * 32,
        vault=TEST_VAULT,
    )
    route = events.Route(
        route_id=uuid.uuid4(),
        service="IDVA",
        sub_service="core",
        priority="urgent",
        rule_ids=["R-IDVA-HIGH-RISK"],
        reason="DASH 15",
        consent_basis="explicit_consent",
        requested_at=T0,
        acknowledge_by=ACK,
        contact_due_by=CONTACT,
        code_deadline=CODE,
        second_acknowledge_by=SECOND_ACK,
    )
    decided = events.ReferralRouted(
        referral_id=submitted.referral_id,
        decision_id=uuid.uuid4(),
        decided_at=T0,
        policy_version="2026-11-01.1",
        status="routed",
        enhanced_rights=True,
        routes=[route],
    )
    event: CloudEvent[Any] = CloudEvent(
        source="router",
        type=events.REFERRAL_ROUTED,
        subject=str(submitted.referral_id),
        data=decided,
    )
    await decisions.record_decision(pool, event)
    if status != "requested":
        async with pool.acquire() as conn:
            await conn.execute("UPDATE routes SET status = $1", status)
    return submitted.referral_id


async def _sla_events(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT payload->>'type' AS type, payload->'data'->>'clock' AS clock FROM outbox
               WHERE topic = ANY($1::text[]) ORDER BY id""",
            [topics.REFERRAL_SLA, topics.REFERRAL_REASSESS],
        )
    return [(r["type"], r["clock"]) for r in rows]


async def _route_status(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        return str(await conn.fetchval("SELECT status FROM routes"))


async def test_nothing_is_breached_before_its_time(pool: asyncpg.Pool) -> None:
    await _routed_referral(pool)
    assert await watchdog.check_deadlines(pool, ACK - timedelta(seconds=1)) == 0
    assert await _sla_events(pool) == []


async def test_acknowledgement_breach_is_reported_once_and_escalates(pool: asyncpg.Pool) -> None:
    await _routed_referral(pool)
    assert await watchdog.check_deadlines(pool, ACK + timedelta(minutes=1)) == 1
    assert await watchdog.check_deadlines(pool, ACK + timedelta(minutes=2)) == 0
    assert await _sla_events(pool) == [
        ("referral.sla_breached.v1", "acknowledge"),
        ("referral.escalated.v1", "acknowledge"),
    ]
    assert await _route_status(pool) == "escalated"


async def test_second_breach_asks_the_router_to_reroute(pool: asyncpg.Pool) -> None:
    await _routed_referral(pool)
    await watchdog.check_deadlines(pool, ACK + timedelta(minutes=1))
    assert await watchdog.check_deadlines(pool, SECOND_ACK + timedelta(minutes=1)) == 1
    async with pool.acquire() as conn:
        trigger = await conn.fetchval(
            "SELECT payload->'data'->>'trigger' FROM outbox WHERE topic = $1",
            topics.REFERRAL_REASSESS,
        )
    assert trigger == "sla_reroute"


async def test_contact_and_code_clocks(pool: asyncpg.Pool) -> None:
    await _routed_referral(pool, status="accepted")  # acknowledged: no acknowledgement breach
    assert await watchdog.check_deadlines(pool, CODE + timedelta(hours=1)) == 1
    assert await _sla_events(pool) == [
        ("referral.sla_breached.v1", "contact")
    ]  # reached it: no code breach


async def test_two_watchdogs_at_once_report_each_breach_once(pool: asyncpg.Pool) -> None:
    for _ in range(5):
        await _routed_referral(pool)
    now = ACK + timedelta(minutes=1)
    reported = await asyncio.gather(*(watchdog.check_deadlines(pool, now) for _ in range(3)))
    assert sum(reported) == 5
    assert len(await _sla_events(pool)) == 10


async def test_a_watchdog_that_dies_part_way_reports_the_breach_once_after_restart(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _routed_referral(pool)
    real_add = outbox.add  # the watchdog calls it as outbox.add, so patching the module works

    async def crash(*_: object) -> None:
        raise ConnectionResetError("the process died before commit")

    monkeypatch.setattr(outbox, "add", crash)
    with pytest.raises(ConnectionResetError):
        await watchdog.check_deadlines(pool, ACK + timedelta(minutes=1))
    assert await _sla_events(pool) == []
    assert await _route_status(pool) == "requested"

    monkeypatch.setattr(outbox, "add", real_add)  # the restarted watchdog
    assert await watchdog.check_deadlines(pool, ACK + timedelta(minutes=5)) == 1
    assert await watchdog.check_deadlines(pool, ACK + timedelta(minutes=6)) == 0
    assert len(await _sla_events(pool)) == 2


GRACE = timedelta(minutes=5)


async def _answering_received(pool: asyncpg.Pool) -> uuid.UUID:
    """Name the referral's ``referral.received`` event (published by the relay) as the one
    the route's decision answered, as the router does; its id."""
    async with pool.acquire() as conn:
        received: uuid.UUID = await conn.fetchval(
            "SELECT event_id FROM outbox WHERE topic = $1", topics.REFERRAL_RECEIVED
        )
        await conn.execute("UPDATE routes SET trigger_event_id = $1", received)
        await conn.execute("UPDATE outbox SET published_at = now()")
    return received


async def _waiting_to_be_published(pool: asyncpg.Pool, event_id: uuid.UUID) -> bool:
    async with pool.acquire() as conn:
        return bool(
            await conn.fetchval(
                "SELECT published_at IS NULL FROM outbox WHERE event_id = $1", event_id
            )
        )


async def test_a_route_never_queued_is_redriven_once_its_grace_has_passed(
    pool: asyncpg.Pool,
) -> None:
    await _routed_referral(pool)
    received = await _answering_received(pool)

    assert await reconciliation.reconcile(pool, T0 + timedelta(minutes=1), GRACE) == 0
    assert not await _waiting_to_be_published(pool, received)

    # Published again, so the router decides again and the adapter is asked again.
    assert await reconciliation.reconcile(pool, T0 + GRACE * 2, GRACE) == 1
    assert await _waiting_to_be_published(pool, received)

    # The relay sends it; the next try waits for its back-off (twice the grace).
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET published_at = now()")
    assert await reconciliation.reconcile(pool, T0 + GRACE * 3, GRACE) == 0
    assert not await _waiting_to_be_published(pool, received)


async def test_a_route_its_adapter_queued_is_not_redriven(pool: asyncpg.Pool) -> None:
    referral_id = await _routed_referral(pool)
    received = await _answering_received(pool)
    async with pool.acquire() as conn:
        route_id: uuid.UUID = await conn.fetchval("SELECT route_id FROM routes")
    queued = events.RouteStatusChanged(
        route_id=route_id,
        referral_id=referral_id,
        service="IDVA",
        step="queued",
        status="requested",
        at=T0 + timedelta(seconds=5),
    )
    await decisions.record_route_status(
        pool,
        CloudEvent(
            source="provider_adapter.IDVA",
            type=events.ROUTE_STATUS,
            subject=str(referral_id),
            data=queued,
        ),
    )

    assert await reconciliation.reconcile(pool, T0 + GRACE * 2, GRACE) == 0
    assert not await _waiting_to_be_published(pool, received)
