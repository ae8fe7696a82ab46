"""Intake's database for tests that call its handlers directly, without its HTTP app or a
broker: its schema migrated, a pool on it, and the router's decisions such tests record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.bootstrap import build
from services.referral_intake.settings import IntakeSettings
from tests.support.services import common_env


@asynccontextmanager
async def migrated_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on intake's schema in ``database_url``, after intake's migrations have run.
    The broker address leads nowhere: nothing here publishes (the outbox only fills)."""
    settings = IntakeSettings(**common_env(database_url, KafkaAccess("127.0.0.1:1")))  # type: ignore[arg-type]
    await build(settings).migrate()
    pool = await db.create_pool(database_url, "intake", application_name="test")
    try:
        yield pool
    finally:
        await pool.close()


# An urgent IDVA route requested on a Monday morning, and the deadlines the router set on it
# (the watchdog's tests step the clock across each).
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
ACK = T0 + timedelta(hours=4)
SECOND_ACK = T0 + timedelta(hours=8)
CONTACT = T0 + timedelta(hours=48)
CODE = T0 + timedelta(days=2)


def urgent_idva_route() -> events.Route:
    """The route the high-risk rule gives (DASH 15, explicit consent), requested at ``T0``."""
    return events.Route(
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


def router_decided(
    referral_id: uuid.UUID | str, **fields: Any
) -> CloudEvent[events.ReferralRouted]:
    """The router's decision on ``referral_id`` as intake's consumer receives it: routed,
    with enhanced rights, under policy 2026-11-01.1, decided now, unless ``fields`` (any of
    ``ReferralRouted``'s) say otherwise."""
    decision = events.ReferralRouted(
        **{
            "referral_id": referral_id,
            "decision_id": uuid.uuid4(),
            "decided_at": datetime.now(UTC),
            "policy_version": "2026-11-01.1",
            "status": "routed",
            "enhanced_rights": True,
            **fields,
        }
    )
    return CloudEvent(
        source="router", type=events.REFERRAL_ROUTED, subject=str(referral_id), data=decision
    )
