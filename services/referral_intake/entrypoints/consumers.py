"""Intake's event subscriptions: the router's decisions and the adapters' status reports."""

from __future__ import annotations

from functools import partial

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing.kafka import On, subscribe
from services.plumbing.settings import ServiceSettings
from services.referral_intake.handlers import common, decisions


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    subscribe(
        broker,
        topic=topics.REFERRAL_ROUTED,
        group_id=common.ROUTED_CONSUMER,
        handlers={
            events.REFERRAL_ROUTED: On(
                CloudEvent[events.ReferralRouted], partial(decisions.record_decision, pool)
            )
        },
        settings=settings,
    )
    subscribe(
        broker,
        topic=topics.REFERRAL_STATUS,
        group_id=common.STATUS_CONSUMER,
        handlers={
            events.ROUTE_STATUS: On(
                CloudEvent[events.RouteStatusChanged], partial(decisions.record_route_status, pool)
            )
        },
        settings=settings,
    )
