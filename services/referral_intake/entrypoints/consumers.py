"""Intake's event subscriptions: the router's decisions and the adapters' status reports."""

from __future__ import annotations

from functools import partial

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing.kafka import subscribe
from services.plumbing.settings import ServiceSettings
from services.referral_intake import handlers


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    subscribe(
        broker,
        topic=topics.REFERRAL_ROUTED,
        group_id=handlers.ROUTED_CONSUMER,
        model=CloudEvent[events.ReferralRouted],
        accept_types=frozenset({events.REFERRAL_ROUTED}),
        handle=partial(handlers.record_decision, pool),
        settings=settings,
    )
    subscribe(
        broker,
        topic=topics.REFERRAL_STATUS,
        group_id=handlers.STATUS_CONSUMER,
        model=CloudEvent[events.RouteStatusChanged],
        accept_types=frozenset({events.ROUTE_STATUS}),
        handle=partial(handlers.record_route_status, pool),
        settings=settings,
    )
