"""The adapter's subscriptions: its own work queue (new and cancelled work items), the
SLA topic (escalations of its own routes, and erasures of referrals' personal data) and the
contact topic (changed contact details)."""

from __future__ import annotations

from functools import partial
from typing import Any

from faststream.kafka import KafkaBroker

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing.kafka import Subscription, subscribe_all
from services.plumbing.settings import ServiceSettings
from services.plumbing.unit_of_work import Apply, UnitOfWork, applying
from services.provider_adapter.handlers import contact_changes, work_items
from services.provider_adapter.handlers.common import Adapter

MAX_BATCH = 100
"""Work items stored in one transaction, at most: as many as have arrived."""
SLA_FETCH_MAX_WAIT_MS = 1_000


def subscriptions(adapter: Adapter) -> list[Subscription]:
    """What the adapter consumes (``Subscription``)."""
    # One inbox name for the three topics: an event id is applied once, whatever its topic.
    unit_of_work = UnitOfWork(adapter.pool, adapter.consumer)
    queue = applying(
        events.WorkItem,
        partial(work_items.take_work_item, adapter),
        partial(work_items.take_work_items, adapter),
    ) | applying(events.WorkItemCancelled, partial(work_items.cancel_work_item, adapter))
    contact = applying(events.ContactChanged, partial(contact_changes.take_contact_change, adapter))
    return [
        Subscription(
            topics.queue_for(adapter.service),
            adapter.consumer,
            queue,
            unit_of_work,
            max_batch=MAX_BATCH,
        ),
        # Clocks run in hours and working days, read by intake's watchdog every 15 s: a
        # second more here is nothing, and these were five of the fourteen consumers
        # asking the broker for data every 50 ms while the hub was idle.
        Subscription(
            topics.REFERRAL_SLA,
            f"{adapter.consumer}.sla",
            _sla_handlers(adapter),
            unit_of_work,
            fetch_max_wait_ms=SLA_FETCH_MAX_WAIT_MS,
        ),
        # A broker answers a fetch as soon as a record arrives, so waiting up to a second
        # when there is none delays nothing and spares the idle hub five more polls at
        # 50 ms.
        Subscription(
            topics.REFERRAL_CONTACT,
            f"{adapter.consumer}.contact",
            contact,
            unit_of_work,
            fetch_max_wait_ms=SLA_FETCH_MAX_WAIT_MS,
        ),
    ]


def register(broker: KafkaBroker, adapter: Adapter, settings: ServiceSettings) -> None:
    subscribe_all(broker, settings, subscriptions(adapter))


def _sla_handlers(adapter: Adapter) -> dict[str, Apply[Any]]:
    """The SLA topic's events this adapter applies: escalations of its own routes (the
    topic's other breaches pass by without a transaction) and erasures."""
    escalation = Apply(
        CloudEvent[events.SlaBreached],
        partial(work_items.record_sla_event, adapter),
        wanted=partial(work_items.is_own_escalation, adapter),
    )
    return {
        events.ESCALATED: escalation,
        events.SLA_BREACHED: escalation,
        events.PERSONAL_DATA_ERASED: Apply(
            CloudEvent[events.PersonalDataErased], partial(work_items.erase_work_items, adapter)
        ),
    }
