from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing.events import by_event
from services.plumbing.kafka import subscribe
from services.plumbing.settings import ServiceSettings
from services.plumbing.unit_of_work import Apply, UnitOfWork
from services.router import handlers

MAX_BATCH = 500
"""Referrals decided and stored in one transaction, at most: as many as have arrived."""


def register(broker: KafkaBroker, router: handlers.Router, settings: ServiceSettings) -> None:
    # One inbox name for both topics: an event id is applied once, whatever its topic.
    unit_of_work = UnitOfWork(router.pool, handlers.RECEIVED_CONSUMER)
    subscribe(
        broker,
        topic=events.ReferralReceived.TOPIC,
        group_id=handlers.RECEIVED_CONSUMER,
        handlers=by_event(
            {
                events.ReferralReceived: Apply(
                    CloudEvent[events.ReferralReceived],
                    partial(handlers.route_referral, router),
                    handle_batch=partial(handlers.route_referrals, router),
                )
            }
        ),
        settings=settings,
        max_batch=MAX_BATCH,
        unit_of_work=unit_of_work,
    )
    subscribe(
        broker,
        topic=events.ReassessmentRequested.TOPIC,
        group_id=handlers.REASSESS_CONSUMER_GROUP,
        handlers=by_event(
            {
                events.ReassessmentRequested: Apply(
                    CloudEvent[events.ReassessmentRequested],
                    partial(handlers.reassess_referral, router),
                )
            }
        ),
        settings=settings,
        unit_of_work=unit_of_work,
    )
