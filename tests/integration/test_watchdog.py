"""The SLA watchdog against a real database, with a clock the test controls: each breach is
reported once, also when two watchdogs run at once or one dies part-way. Reconciliation,
the other check on the clock: a route no adapter reported having is re-driven."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing import outbox
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers import reconciliation, submission, watchdog
from tests.support.consuming import applied_at_intake
from tests.support.intake import (
    ACK,
    CODE,
    SECOND_ACK,
    T0,
    migrated_pool,
    router_decided,
    urgent_idva_route,
)
from tests.support.referrals import referral
from tests.support.services import TEST_VAULT


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(database_url) as pool:
        yield pool


async def _routed_referral(pool: asyncpg.Pool, status: str = "requested") -> uuid.UUID:
    submitted = await submission.submit_referral(
        pool,
        ReferralRequest.model_validate(referral()),
        submitted_by="test",
        idempotency_key=None,
        identity_key=b"k" * 32,
        vault=TEST_VAULT,
    )
    event = router_decided(submitted.referral_id, decided_at=T0, routes=[urgent_idva_route()])
    await applied_at_intake(pool, event)
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
    await applied_at_intake(
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
