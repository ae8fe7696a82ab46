from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing.kafka import subscribe
from services.plumbing.settings import ServiceSettings
from services.router import handlers


def register(broker: KafkaBroker, router: handlers.Router, settings: ServiceSettings) -> None:
    subscribe(
        broker,
        topic=topics.REFERRAL_RECEIVED,
        group_id=handlers.RECEIVED_CONSUMER,
        model=CloudEvent[events.ReferralReceived],
        accept_types=frozenset({events.REFERRAL_RECEIVED}),
        handle=partial(handlers.route_referral, router),
        settings=settings,
    )
