from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing.kafka import On, subscribe
from services.plumbing.settings import ServiceSettings
from services.router import handlers


def register(broker: KafkaBroker, router: handlers.Router, settings: ServiceSettings) -> None:
    subscribe(
        broker,
        topic=topics.REFERRAL_RECEIVED,
        group_id=handlers.RECEIVED_CONSUMER,
        handlers={
            events.REFERRAL_RECEIVED: On(
                CloudEvent[events.ReferralReceived], partial(handlers.route_referral, router)
            )
        },
        settings=settings,
    )
    subscribe(
        broker,
        topic=topics.REFERRAL_REASSESS,
        group_id=handlers.REASSESS_CONSUMER_GROUP,
        handlers={
            events.REFERRAL_REASSESS: On(
                CloudEvent[events.ReassessmentRequested],
                partial(handlers.reassess_referral, router),
            )
        },
        settings=settings,
    )
