"""The provider's webhook: registering where to push, queueing deliveries with the state
change that causes them, and the dispatcher that sends them, signed with Standard Webhooks.

The mechanics (registration rules, signing, retries, what each answer means, secret
rotation, the delivery round) are shared with intake's referrer webhook:
``services/plumbing/webhooks.py``. What is the adapter's own is here: its tables (the
single ``webhook`` row and ``deliveries`` by work item, ``adapters/repository.py``), the
payloads, and what a delivery's end means to a work item (delivered: the provider has seen
it; never delivered: its route escalates, so that the VAL supervisor sees it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg

from schemas.codes import RouteStatus
from services.plumbing import loops, outbox
from services.plumbing import webhooks as push
from services.plumbing.db import Connection
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.domain import delivery
from services.provider_adapter.domain import work_item as lifecycle
from services.provider_adapter.handlers.common import Adapter, record_step

DISABLED_BECAUSE = {
    "gone": "The receiver answered 410 Gone: no more webhooks are sent to it until this "
    "provider registers it again (PUT /v1/webhook). Meanwhile the queue works by polling.",
}


class WorkItemOutcomes:
    """What a delivery's end means to its work item."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter

    async def delivered(self, conn: Connection, row: asyncpg.Record, now: datetime) -> None:
        await repo.mark_pushed(conn, row["route_id"], now)
        if row["kind"] == "created":
            await _step(conn, self.adapter, row["route_id"], "delivered", lifecycle.on_viewed, now)

    async def ended(
        self, conn: Connection, row: asyncpg.Record, now: datetime, *, step: str, reason: str
    ) -> None:
        """A new work item its provider was never told of escalates its route."""
        if row["kind"] == "created":
            route_id = row["route_id"]
            await _step(
                conn, self.adapter, route_id, step, lifecycle.on_escalated, now, reason=reason
            )


def sender(adapter: Adapter) -> push.Sender:
    """The adapter's one webhook, as the shared dispatcher sees it."""
    return push.Sender(
        store=repo.WEBHOOK,
        outcomes=WorkItemOutcomes(adapter),
        pool=adapter.pool,
        outbound=adapter.outbound,
        settings=adapter.settings,
        label=adapter.service.value,
        waiting=adapter.deliveries_waiting,
        disabled_because=DISABLED_BECAUSE,
    )


async def register(adapter: Adapter, url: str) -> dict[str, Any]:
    """Push new work items to ``url`` (``plumbing.webhooks.register``: a new secret, the
    same URL again a rotation without downtime). Raises ``OutboundRefused`` when the URL may
    not be called; nothing is stored then."""
    return await push.register(sender(adapter), url)


async def status(adapter: Adapter) -> dict[str, Any] | None:
    """The registered webhook as its provider sees it (``plumbing.webhooks.status``); None
    when there is no webhook."""
    return await push.status(sender(adapter))


async def unregister(adapter: Adapter) -> bool:
    return await push.unregister(sender(adapter))


async def enqueue(
    conn: Connection,
    adapter: Adapter,
    route_id: uuid.UUID,
    kind: str,
    item: dict[str, Any],
    *,
    sequence: int | None = None,
) -> None:
    """Queue a push about this work item, in the caller's transaction; nothing when the
    provider has no webhook, or its receiver asked for none (410: disabled). ``sequence``
    numbers a kind sent more than once (a reminder is numbered by count when not given; a
    change of contact details by its version)."""
    hook = await repo.webhook(conn)
    if hook is None or hook["disabled_at"] is not None:
        return
    if sequence is None:
        sequence = await repo.next_reminder(conn, route_id) if kind == "reminder" else 1
    if kind in delivery.SUPERSEDING:
        await repo.supersede_waiting(conn, route_id, kind)
    webhook_id = delivery.webhook_id(route_id, kind, sequence)
    await repo.enqueue_delivery(
        conn, webhook_id, route_id, kind, delivery.payload(kind, item, datetime.now(UTC))
    )
    adapter.deliveries_waiting.set()


async def _step(
    conn: Connection,
    adapter: Adapter,
    route_id: uuid.UUID,
    step: str,
    decide: Any,
    now: datetime,
    reason: str | None = None,
) -> None:
    row = await repo.lock_route(conn, route_id)
    if row is None:
        return
    current = RouteStatus(row["status"])
    after = decide(current)
    if after is current:
        return
    await repo.set_status(conn, route_id, after.value)
    await outbox.add(conn, [await record_step(conn, adapter, row, step, after, now, reason=reason)])


async def deliver_due(adapter: Adapter) -> int:
    """Send what is due now (``plumbing.webhooks.deliver_due``); returns how many deliveries
    were attempted. A work item the provider never got because its URL was refused
    escalates its route (step ``delivery_refused``)."""
    return await push.deliver_due(sender(adapter))


async def keep_for_retention(adapter: Adapter) -> None:
    """The adapter's retention job until cancelled: every ``RETENTION_CHECK_SECONDS``, old
    deliveries go (``plumbing.webhooks.prune``)."""

    async def step() -> None:
        await push.prune(adapter.pool, repo.TABLES, adapter.settings, datetime.now(UTC))

    await loops.every(adapter.settings.retention_check_seconds, step, name="retention")


async def run(adapter: Adapter) -> None:
    """Deliver until cancelled: woken when a delivery is queued (by this process or another
    replica), asleep until the next retry comes due (``plumbing.webhooks.keep_delivering``)."""
    push.count_series(adapter.service.value)
    await push.keep_delivering(
        lambda: deliver_due(adapter),
        partial(push.next_due, adapter.pool, repo.WebhookStore, repo.TABLES),
        adapter.deliveries_waiting,
        adapter.settings,
        name=f"webhook_delivery.{adapter.service.value}",
        schema=adapter.settings.db_schema,
    )
