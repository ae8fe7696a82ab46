"""A change of a person's contact details reaches the provider's webhook without waiting
behind a reminder being retried (a new number, or "no longer safe to call", is news the
provider must act on), yet never before the work item itself, and a cancellation is still
the work item's last word; a newer change supersedes one not yet delivered. Real PostgreSQL,
a real receiver on this machine, the dispatcher driven one round at a time."""

from __future__ import annotations

import uuid

from services.provider_adapter.domain.delivery import webhook_id
from services.provider_adapter.handlers import webhooks
from tests.integration.test_webhooks_by_the_spec import Rig, receiver, rig
from tests.support.webhook_receiver import Receiver

__all__ = ["receiver", "rig"]  # the fixtures, shared with the specification's tests


async def _queue(rig: Rig, route_id: uuid.UUID, kind: str, sequence: int | None = None) -> None:
    async with rig.adapter.pool.acquire() as conn, conn.transaction():
        await webhooks.enqueue(
            conn, rig.adapter, route_id, kind, {"route_id": str(route_id)}, sequence=sequence
        )


def _heard(receiver: Receiver) -> list[tuple[str, int]]:
    return [(d.payload["type"].removeprefix("work_item."), d.answered) for d in receiver.received()]


async def _due_now(rig: Rig, route_id: uuid.UUID) -> None:
    """The route's retries due now (not seconds from now)."""
    async with rig.adapter.pool.acquire() as conn:
        await conn.execute(
            """UPDATE deliveries SET next_attempt_at = now()
               WHERE route_id = $1 AND state = 'pending'""",
            route_id,
        )


async def _pushed_then_failing(rig: Rig, receiver: Receiver) -> uuid.UUID:
    """A work item its provider's receiver has heard of, the receiver to fail next."""
    await rig.register(receiver)
    route_id = await rig.work_item()
    await webhooks.deliver_due(rig.adapter)
    receiver.plan = ["fail"]
    return route_id


async def test_a_contact_change_does_not_wait_behind_a_reminder_being_retried(
    rig: Rig, receiver: Receiver
) -> None:
    route_id = await _pushed_then_failing(rig, receiver)
    await _queue(rig, route_id, "reminder")
    await webhooks.deliver_due(rig.adapter)  # the reminder fails; its retry is seconds away

    await _queue(rig, route_id, "contact_changed", sequence=2)
    await webhooks.deliver_due(rig.adapter)
    assert _heard(receiver) == [("created", 204), ("reminder", 500), ("contact_changed", 204)]
    states = {d["kind"]: d["state"] for d in await rig.deliveries(route_id)}
    assert states == {"created": "delivered", "reminder": "pending", "contact_changed": "delivered"}


async def test_it_waits_for_the_work_item_itself_and_a_cancellation_waits_for_it(
    rig: Rig, receiver: Receiver
) -> None:
    await rig.register(receiver)
    receiver.plan = ["fail"]
    route_id = await rig.work_item()
    await webhooks.deliver_due(rig.adapter)  # the work item's push fails
    await _queue(rig, route_id, "contact_changed", sequence=2)
    await webhooks.deliver_due(rig.adapter)
    assert _heard(receiver) == [("created", 500)]  # not about an item it has not heard of

    await _due_now(rig, route_id)
    await webhooks.deliver_due(rig.adapter)
    receiver.plan = ["fail"]
    await webhooks.deliver_due(rig.adapter)
    assert _heard(receiver) == [("created", 500), ("created", 204), ("contact_changed", 500)]

    await _queue(rig, route_id, "cancelled")
    await webhooks.deliver_due(rig.adapter)
    assert len(receiver.received()) == 3  # the cancellation comes after the change, not before
    await _due_now(rig, route_id)
    await webhooks.deliver_due(rig.adapter)
    await webhooks.deliver_due(rig.adapter)
    assert _heard(receiver)[3:] == [("contact_changed", 204), ("cancelled", 204)]


async def test_a_newer_contact_change_supersedes_one_not_yet_delivered(
    rig: Rig, receiver: Receiver
) -> None:
    route_id = await _pushed_then_failing(rig, receiver)
    await _queue(rig, route_id, "contact_changed", sequence=2)
    await webhooks.deliver_due(rig.adapter)
    await _queue(rig, route_id, "contact_changed", sequence=3)
    await webhooks.deliver_due(rig.adapter)

    pushed = [(d.webhook_id, d.answered) for d in receiver.received()][1:]
    assert pushed == [
        (webhook_id(route_id, "contact_changed", 2), 500),
        (webhook_id(route_id, "contact_changed", 3), 204),
    ]
    states = {d["webhook_id"]: d["state"] for d in await rig.deliveries(route_id)}
    assert states[webhook_id(route_id, "contact_changed", 2)] == "cancelled"
