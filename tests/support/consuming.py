"""One event applied as a service's consumer applies it, without a broker: the handler its
``register`` files for the event's type, in the unit of work it gives that subscription
(``services.plumbing.unit_of_work``: the inbox, the transaction, the outbox with
``caused_by``). For tests that drive a consumer's handler directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import asyncpg

from schemas.envelope import CloudEvent
from services.plumbing import kafka
from services.plumbing.kafka import On
from services.plumbing.unit_of_work import Apply, UnitOfWork
from services.provider_adapter.entrypoints import consumers as adapter_consumers
from services.provider_adapter.handlers.common import Adapter
from services.referral_intake.entrypoints import consumers as intake_consumers
from services.router.entrypoints import consumers as router_consumers
from services.router.handlers import Router

Subscription = tuple[str, UnitOfWork | None, On[Any] | Apply[Any]]


def subscriptions(register: Callable[..., None], owner: object) -> dict[str, Subscription]:
    """What ``register(broker, owner, settings)`` subscribes, by event type: the topic, the
    unit of work and the handling (read by standing in for ``kafka.Subscription.register``)."""
    table: dict[str, Subscription] = {}

    def record(subscription: kafka.Subscription, broker: object, settings: object) -> None:
        for kind, spec in subscription.handlers.items():
            table[kind] = (subscription.topic, subscription.unit_of_work, spec)

    with mock.patch.object(kafka.Subscription, "register", record):
        register(None, owner, None)
    return table


async def consumed(register: Callable[..., None], owner: object, event: CloudEvent[Any]) -> None:
    """``event`` applied as ``register``'s consumer of its type applies one event."""
    topic, unit_of_work, spec = subscriptions(register, owner)[event.type]
    assert isinstance(spec, Apply)
    assert unit_of_work is not None
    if spec.wanted is None or spec.wanted(event):
        await unit_of_work.apply(topic, event, spec.handle)


async def applied_at_intake(pool: asyncpg.Pool, event: CloudEvent[Any]) -> None:
    """A decision or a status report, as intake's consumers apply it."""
    await consumed(intake_consumers.register, pool, event)


async def applied_by_router(router: Router, event: CloudEvent[Any]) -> None:
    """A new referral or a re-assessment request, as the router's consumers apply it."""
    await consumed(router_consumers.register, router, event)


async def applied_by_adapter(adapter: Adapter, event: CloudEvent[Any]) -> None:
    """A work item, a cancellation, an escalation, an erasure or a contact change, as the
    adapter's consumers apply it."""
    await consumed(adapter_consumers.register, adapter, event)
