from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing.kafka import subscribe
from services.plumbing.settings import ServiceSettings
from services.provider_adapter import handlers


def register(broker: KafkaBroker, adapter: handlers.Adapter, settings: ServiceSettings) -> None:
    subscribe(
        broker,
        topic=topics.queue_for(adapter.service),
        group_id=adapter.consumer,
        model=CloudEvent[events.WorkItem],
        accept_types=frozenset({events.WORK_ITEM}),
        handle=partial(handlers.take_work_item, adapter),
        settings=settings,
    )
