"""The adapter's subscriptions: its own work queue (new and cancelled work items) and the
SLA topic (escalations of its own routes)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing.kafka import On, subscribe
from services.plumbing.settings import ServiceSettings
from services.provider_adapter.handlers import work_items
from services.provider_adapter.handlers.common import Adapter


def register(broker: KafkaBroker, adapter: Adapter, settings: ServiceSettings) -> None:
    subscribe(
        broker,
        topic=topics.queue_for(adapter.service),
        group_id=adapter.consumer,
        handlers={
            events.WORK_ITEM: On(
                CloudEvent[events.WorkItem], partial(work_items.take_work_item, adapter)
            ),
            events.WORK_ITEM_CANCELLED: On(
                CloudEvent[events.WorkItemCancelled], partial(work_items.cancel_work_item, adapter)
            ),
        },
        settings=settings,
    )
    escalation = On(CloudEvent[events.SlaBreached], partial(work_items.record_sla_event, adapter))
    subscribe(
        broker,
        topic=topics.REFERRAL_SLA,
        group_id=f"{adapter.consumer}.sla",
        handlers={events.ESCALATED: escalation, events.SLA_BREACHED: escalation},
        settings=settings,
    )
