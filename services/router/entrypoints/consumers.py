from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from schemas import events
from services.plumbing.kafka import Subscription, subscribe_all
from services.plumbing.settings import ServiceSettings
from services.plumbing.unit_of_work import UnitOfWork, applying
from services.router import handlers

MAX_BATCH = 500
"""Referrals decided and stored in one transaction, at most: as many as have arrived."""


def subscriptions(router: handlers.Router) -> list[Subscription]:
    """What the router consumes (``Subscription``)."""
    # One inbox name for both topics: an event id is applied once, whatever its topic.
    unit_of_work = UnitOfWork(router.pool, handlers.RECEIVED_CONSUMER)
    received = applying(
        events.ReferralReceived,
        partial(handlers.route_referral, router),
        partial(handlers.route_referrals, router),
    )
    reassess = applying(events.ReassessmentRequested, partial(handlers.reassess_referral, router))
    return [
        Subscription(
            events.ReferralReceived.TOPIC,
            handlers.RECEIVED_CONSUMER,
            received,
            unit_of_work,
            max_batch=MAX_BATCH,
        ),
        Subscription(
            events.ReassessmentRequested.TOPIC,
            handlers.REASSESS_CONSUMER_GROUP,
            reassess,
            unit_of_work,
        ),
    ]


def register(broker: KafkaBroker, router: handlers.Router, settings: ServiceSettings) -> None:
    subscribe_all(broker, settings, subscriptions(router))
