"""Reconciliation against a real database: a route whose provider's adapter never reported
having it is re-driven once its grace has passed (the event that led to it is published
again, so the router decides again and the adapter is asked again), once per back-off, and a
route the adapter queued is left alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.bootstrap import build
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers import decisions, reconciliation, submission
from services.referral_intake.settings import IntakeSettings
from tests.support.referrals import referral
from tests.support.services import TEST_VAULT, common_env

GRACE = timedelta(minutes=5)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    settings = IntakeSettings(**common_env(database_url, KafkaAccess("127.0.0.1:1")))  # type: ignore[arg-type]
    await build(settings).migrate()
    pool = await db.create_pool(database_url, "intake", application_name="test")
    yield pool
    await pool.close()


async def _routed(pool: asyncpg.Pool, requested_at: datetime) -> tuple[events.Route, uuid.UUID]:
    """A referral routed to IDVA at ``requested_at``: the route (of ``decided``), and the id
    of the ``referral.received`` event the decision answered (published by the relay)."""
    submitted = await submission.submit_referral(
        pool,
        ReferralRequest.model_validate(referral()),
        submitted_by="test",
        idempotency_key=None,
        identity_key=b"k" * 32,
        vault=TEST_VAULT,
    )
    async with pool.acquire() as conn:
        received: uuid.UUID = await conn.fetchval(
            "SELECT event_id FROM outbox WHERE key = $1", str(submitted.referral_id)
        )
        await conn.execute("UPDATE outbox SET published_at = now()")
    route = events.Route(
        route_id=uuid.uuid4(),
        service="IDVA",
        sub_service="core",
        priority="urgent",
        rule_ids=["R-IDVA-HIGH-RISK"],
        reason="DASH 15",
        consent_basis="explicit_consent",
        requested_at=requested_at,
        acknowledge_by=requested_at + timedelta(hours=4),
        contact_due_by=requested_at + timedelta(hours=48),
        code_deadline=requested_at + timedelta(days=2),
    )
    decided = events.ReferralRouted(
        referral_id=submitted.referral_id,
        decision_id=uuid.uuid4(),
        decided_at=requested_at,
        policy_version="2026-11-01.1",
        status="routed",
        enhanced_rights=True,
        routes=[route],
        trigger_event_id=received,
    )
    event: CloudEvent[Any] = CloudEvent(
        source="router",
        type=events.REFERRAL_ROUTED,
        subject=str(submitted.referral_id),
        data=decided,
    )
    await decisions.record_decision(pool, event)
    return route, received


async def _queued(pool: asyncpg.Pool, route_id: uuid.UUID, at: datetime) -> None:
    """The IDVA adapter reports having the route (its ``queued`` step)."""
    async with pool.acquire() as conn:
        referral_id: uuid.UUID = await conn.fetchval(
            "SELECT referral_id FROM routes WHERE route_id = $1", route_id
        )
    queued = events.RouteStatusChanged(
        route_id=route_id,
        referral_id=referral_id,
        service="IDVA",
        step="queued",
        status="requested",
        at=at,
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
    now = datetime.now(UTC)
    _, received = await _routed(pool, now - timedelta(minutes=1))

    assert await reconciliation.reconcile(pool, now, GRACE) == 0
    assert not await _waiting_to_be_published(pool, received)

    assert await reconciliation.reconcile(pool, now + GRACE, GRACE) == 1
    assert await _waiting_to_be_published(pool, received)

    # Published again by the relay; the next try waits for its back-off (twice the grace).
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET published_at = now()")
    assert await reconciliation.reconcile(pool, now + GRACE * 2, GRACE) == 0
    assert not await _waiting_to_be_published(pool, received)


async def test_a_route_its_adapter_queued_is_left_alone(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    route, received = await _routed(pool, now - timedelta(minutes=1))
    await _queued(pool, route.route_id, now)

    assert await reconciliation.reconcile(pool, now + GRACE, GRACE) == 0
    assert not await _waiting_to_be_published(pool, received)
