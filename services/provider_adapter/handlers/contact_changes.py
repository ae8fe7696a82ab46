"""A person's contact details changed at intake (``referral.contact_changed.v1``): every
open work item of the referral here gets a marker until its provider reads the new details,
and the provider's webhook, if it has one, gets a signed ``work_item.contact_changed``
(coded: which fields, never their values). Consumed like every event: the inbox row, the
marker and the delivery commit together, and the offset only after them, so an adapter that
was down when the details changed hears of it when it is back (the consumer's unit of work,
``services.plumbing.unit_of_work``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import data_sharing, events
from schemas.codes import TERMINAL_ROUTE_STATUSES
from schemas.envelope import CloudEvent
from services.plumbing.db import Connection
from services.plumbing.outbox import OutgoingEvent
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.handlers import webhooks
from services.provider_adapter.handlers.common import Adapter
from services.provider_adapter.handlers.work_items import queue_item

CONTACT_CHANGED = "contact_changed"
WEBHOOK_KIND = "contact_changed"


async def take_contact_change(
    adapter: Adapter, conn: Connection, event: CloudEvent[events.ContactChanged]
) -> list[OutgoingEvent]:
    """Mark every open work item of the referral whose provider has not read these details
    yet, and queue the signed notice to its webhook. No event is published: intake knows."""
    change = event.data
    readable = set(data_sharing.contact_fields(adapter.service))
    fields: list[str] = [f.value for f in change.fields if f.value in readable]
    if not fields:
        return []  # nothing this provider may read changed
    now = datetime.now(UTC)
    for row in await repo.lock_work_items_of_referral(conn, change.referral_id):
        if row["status"] in {s.value for s in TERMINAL_ROUTE_STATUSES}:
            continue
        if max(row["contact_version"], row["contact_read_version"]) >= change.version:
            continue  # already heard of, or its provider has read these details already
        await _mark(conn, adapter, row, change, fields, now)
    return []


async def _mark(
    conn: Connection,
    adapter: Adapter,
    row: Any,
    change: events.ContactChanged,
    fields: list[str],
    now: datetime,
) -> None:
    unread = list(dict.fromkeys([*row["contact_changed_fields"], *fields]))
    facts = dict(row["facts"])
    channel = change.preferred_channel
    after = {
        "contact.safe_to_contact": change.safe_to_contact,
        "contact.preferred_channel": channel.value if channel is not None else None,
    }
    for path, value in after.items():
        # The coded facts the provider's agreement lets it see follow the change.
        if path in facts:
            facts[path] = value
    await repo.mark_contact_changed(
        conn,
        row["route_id"],
        version=change.version,
        changed_at=change.changed_at,
        fields=unread,
        facts=facts,
    )
    await repo.add_step(
        conn, row["route_id"], CONTACT_CHANGED, row["status"], now, None, {"fields": fields}
    )
    updated = await repo.lock_route(conn, row["route_id"])
    assert updated is not None
    await webhooks.enqueue(
        conn,
        adapter,
        row["route_id"],
        WEBHOOK_KIND,
        queue_item(updated),
        sequence=change.version,
    )
