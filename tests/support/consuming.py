"""One event applied as a service's consumer applies it, without a broker: the handler its
table of subscriptions (``subscriptions``, what its ``register`` subscribes) files for the
event's type, in the unit of work it gives that subscription
(``services.plumbing.unit_of_work``: the inbox, the transaction, the outbox with
``caused_by``). For tests that drive a consumer's handler directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from schemas.envelope import CloudEvent
from services.plumbing.kafka import Subscription
from services.plumbing.unit_of_work import Apply
from services.provider_adapter.entrypoints import consumers as adapter_consumers
from services.provider_adapter.handlers.common import Adapter
from services.referral_intake.entrypoints import consumers as intake_consumers
from services.router.entrypoints import consumers as router_consumers
from services.router.handlers import Router


def subscription_for(subscriptions: list[Subscription], kind: str) -> Subscription:
    """The one subscription of ``subscriptions`` that handles events of type ``kind``."""
    (found,) = [s for s in subscriptions if kind in s.handlers]
    return found


async def consumed(
    subscriptions: Callable[[Any], list[Subscription]], owner: object, event: CloudEvent[Any]
) -> None:
    """``event`` applied as the service whose table is ``subscriptions(owner)`` applies one
    event of its type."""
    subscription = subscription_for(subscriptions(owner), event.type)
    spec = subscription.handlers[event.type]
    assert isinstance(spec, Apply)
    assert subscription.unit_of_work is not None
    if spec.wanted is None or spec.wanted(event):
        await subscription.unit_of_work.apply(subscription.topic, event, spec.handle)


async def applied_at_intake(pool: asyncpg.Pool, event: CloudEvent[Any]) -> None:
    """A decision or a status report, as intake's consumers apply it."""
    await consumed(intake_consumers.subscriptions, pool, event)


async def applied_by_router(router: Router, event: CloudEvent[Any]) -> None:
    """A new referral or a re-assessment request, as the router's consumers apply it."""
    await consumed(router_consumers.subscriptions, router, event)


async def applied_by_adapter(adapter: Adapter, event: CloudEvent[Any]) -> None:
    """A work item, a cancellation, an escalation, an erasure or a contact change, as the
    adapter's consumers apply it."""
    await consumed(adapter_consumers.subscriptions, adapter, event)
