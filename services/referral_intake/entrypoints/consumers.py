"""Intake's event subscriptions: the router's decisions and the adapters' status reports."""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import events
from services.plumbing.kafka import Subscription, subscribe_all
from services.plumbing.settings import ServiceSettings
from services.plumbing.unit_of_work import UnitOfWork, applying
from services.referral_intake.handlers import common, decisions

MAX_BATCH = 100
"""Decisions (or status reports) projected in one transaction, at most: as many as have
arrived. One transaction and one offset commit each made the projections fall minutes
behind while intake was busy taking referrals."""


def subscriptions(pool: asyncpg.Pool) -> list[Subscription]:
    """What intake consumes (``Subscription``), each in a unit of work on ``pool``."""
    routed = applying(events.ReferralRouted, decisions.record_decision, decisions.record_decisions)
    status = applying(
        events.RouteStatusChanged, decisions.record_route_status, decisions.record_route_statuses
    )
    return [
        Subscription(topic, group, handlers, UnitOfWork(pool, group), max_batch=MAX_BATCH)
        for topic, group, handlers in (
            (events.ReferralRouted.TOPIC, common.ROUTED_CONSUMER, routed),
            (events.RouteStatusChanged.TOPIC, common.STATUS_CONSUMER, status),
        )
    ]


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    subscribe_all(broker, settings, subscriptions(pool))
