"""SQL for the adapter's own tables (its schema holds one provider's work only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from schemas.events import WorkItem
from services.plumbing.db import Connection
from services.plumbing.webhook_store import TableStore, WebhookTables
from services.provider_adapter.domain.work_item import PRIORITY_RANK


async def insert_work_item(
    conn: Connection, item: WorkItem, trace_context: dict[str, str] | None = None
) -> bool:
    """False when this route was stored before (a redelivered work item)."""
    inserted = await conn.fetchval(
        """INSERT INTO work_items (route_id, referral_id, decision_id, policy_version, service,
               sub_service, priority, priority_rank, status, rule_ids, reason, consent_basis,
               flags, facts, requested_at, acknowledge_by, contact_due_by, code_deadline,
               trace_context)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'requested', $9, $10, $11, $12, $13, $14,
                   $15, $16, $17, $18)
           ON CONFLICT (route_id) DO NOTHING RETURNING true""",
        item.route_id,
        item.referral_id,
        item.decision_id,
        item.policy_version,
        item.service.value,
        item.sub_service,
        item.priority.value,
        PRIORITY_RANK[item.priority.value],
        item.rule_ids,
        item.reason,
        item.consent_basis.value,
        item.flags,
        item.facts,
        item.requested_at,
        item.acknowledge_by,
        item.contact_due_by,
        item.code_deadline,
        trace_context or {},
    )
    return bool(inserted)


async def lock_route(conn: Connection, route_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM work_items WHERE route_id = $1 FOR UPDATE", route_id)


_LATEST = "SELECT * FROM work_items WHERE referral_id = $1 ORDER BY requested_at DESC LIMIT 1"


async def latest_for_referral(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_LATEST, referral_id)


async def lock_latest_for_referral(
    conn: Connection, referral_id: uuid.UUID
) -> asyncpg.Record | None:
    """The referral's latest work item, locked until the transaction ends."""
    return await conn.fetchrow(_LATEST + " FOR UPDATE", referral_id)


async def set_status(
    conn: Connection,
    route_id: uuid.UUID,
    status: str,
    *,
    rejection_reason: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE work_items SET status = $2, updated_at = now(),
               rejection_reason = coalesce($3, rejection_reason)
           WHERE route_id = $1""",
        route_id,
        status,
        rejection_reason,
    )


async def add_contact_attempt(
    conn: Connection, route_id: uuid.UUID, at: datetime, channel: str, result: str
) -> None:
    await conn.execute(
        "INSERT INTO contact_attempts (route_id, at, channel, result) VALUES ($1, $2, $3, $4)",
        route_id,
        at,
        channel,
        result,
    )


async def add_outcome(
    conn: Connection,
    route_id: uuid.UUID,
    status: str,
    reason: str | None,
    measures: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO outcomes (route_id, status, reason, measures) VALUES ($1, $2, $3, $4)",
        route_id,
        status,
        reason,
        measures,
    )


async def contact_attempts(conn: Connection, route_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT at, channel, result FROM contact_attempts WHERE route_id = $1 ORDER BY at, id",
            route_id,
        )
    )


async def outcome(conn: Connection, route_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT status, reason, measures FROM outcomes WHERE route_id = $1", route_id
    )


async def queue_page(
    conn: Connection,
    *,
    statuses: list[str],
    after: tuple[int, datetime, uuid.UUID] | None,
    limit: int,
    before: tuple[int, datetime, uuid.UUID] | None = None,
) -> list[asyncpg.Record]:
    """Most urgent, then oldest first. ``after``: the page following that position;
    ``before``: the page preceding it (rows nearest to it, still in queue order)."""
    if before is not None:
        rows = await conn.fetch(
            """SELECT * FROM work_items WHERE status = ANY($1::text[]) AND erased_at IS NULL
                 AND (priority_rank, requested_at, route_id) < ($2, $3, $4)
               ORDER BY priority_rank DESC, requested_at DESC, route_id DESC LIMIT $5""",
            statuses,
            before[0],
            before[1],
            before[2],
            limit,
        )
        return list(reversed(rows))
    if after is None:
        return list(
            await conn.fetch(
                """SELECT * FROM work_items WHERE status = ANY($1::text[]) AND erased_at IS NULL
                   ORDER BY priority_rank, requested_at, route_id LIMIT $2""",
                statuses,
                limit,
            )
        )
    return list(
        await conn.fetch(
            """SELECT * FROM work_items WHERE status = ANY($1::text[]) AND erased_at IS NULL
                 AND (priority_rank, requested_at, route_id) > ($2, $3, $4)
               ORDER BY priority_rank, requested_at, route_id LIMIT $5""",
            statuses,
            after[0],
            after[1],
            after[2],
            limit,
        )
    )


async def count_by_status(conn: Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM work_items WHERE erased_at IS NULL GROUP BY status"
    )
    return {r["status"]: int(r["n"]) for r in rows}


# ---- history --------------------------------------------------------------------------------
async def add_step(
    conn: Connection,
    route_id: uuid.UUID,
    step: str,
    status: str,
    at: datetime,
    actor: str | None,
    detail: dict[str, Any],
) -> None:
    await conn.execute(
        """INSERT INTO work_item_steps (route_id, step, status, at, actor, detail)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        route_id,
        step,
        status,
        at,
        actor,
        detail,
    )


async def steps(conn: Connection, route_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT step, status, at, actor, detail FROM work_item_steps
               WHERE route_id = $1 ORDER BY at, id""",
            route_id,
        )
    )


async def replace_configured_keys(conn: Connection, hashes: list[str]) -> list[str]:
    """Make the configured key hashes the active configured keys: add new ones, revoke
    configured ones no longer listed. Keys issued another way are left alone.

    A key that was retired stays retired: listing it again in the settings does not bring
    it back (revocation is durable; migration 070 also refuses it in the database). Returns
    the configured hashes that were found retired, so that start-up can say so."""
    if not hashes:
        return []
    async with conn.transaction():
        await conn.executemany(
            """INSERT INTO provider_keys (key_hash, label) VALUES ($1, 'configured')
               ON CONFLICT (key_hash) DO NOTHING""",
            [(h,) for h in hashes],
        )
        await conn.execute(
            """UPDATE provider_keys SET revoked_at = now()
               WHERE label = 'configured' AND revoked_at IS NULL
                 AND NOT key_hash = ANY($1::text[])""",
            hashes,
        )
        retired = await conn.fetch(
            """SELECT key_hash FROM provider_keys
               WHERE key_hash = ANY($1::text[]) AND revoked_at IS NOT NULL""",
            hashes,
        )
    return [r["key_hash"] for r in retired]


# ---- keys ---------------------------------------------------------------------------------
async def touch_key(conn: Connection, key_hash: str) -> bool:
    """True (and the key marked as used now) when ``key_hash`` is an active key."""
    return bool(
        await conn.fetchval(
            """UPDATE provider_keys SET last_used_at = now()
               WHERE key_hash = $1 AND revoked_at IS NULL RETURNING true""",
            key_hash,
        )
    )


async def active_keys(conn: Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT key_id, key_prefix, label, created_at, last_used_at FROM provider_keys
               WHERE revoked_at IS NULL ORDER BY created_at"""
        )
    )


async def add_key(conn: Connection, key_hash: str, key_prefix: str, label: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO provider_keys (key_hash, key_prefix, label) VALUES ($1, $2, $3)
           RETURNING key_id, key_prefix, label, created_at""",
        key_hash,
        key_prefix,
        label,
    )
    assert row is not None
    return row


async def revoke_key(conn: Connection, key_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            """UPDATE provider_keys SET revoked_at = now()
               WHERE key_id = $1 AND revoked_at IS NULL RETURNING true""",
            key_id,
        )
    )


async def lock_keys(conn: Connection) -> None:
    """Serialise key changes, so that two requests cannot both add a third key."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('provider_keys'))")


# ---- webhooks -------------------------------------------------------------------------------
TABLES = WebhookTables(
    webhooks="webhook",
    deliveries="deliveries",
    attempts="delivery_attempts",
    owner_column="id",
    deliveries_by_owner=False,
)


class WebhookStore(TableStore):
    """The provider's one webhook (``id = 1``) and its deliveries by work item
    (``services.plumbing.webhooks.Store``)."""

    claim_key = "route_id, kind = 'contact_changed'"
    """Two lanes per work item, each in order: its changes of contact details, and the
    rest (the work item, reminders, its cancellation). A change of contact details (a new
    number, "no longer safe to call") does not wait behind a reminder being retried; an
    earlier one not yet delivered is superseded (``supersede_waiting``)."""
    claim_order = "created_at"
    held_back = """EXISTS (
        SELECT 1 FROM deliveries e
        WHERE e.route_id = due.route_id AND e.state IN ('pending', 'sending')
          AND CASE WHEN due.kind = 'contact_changed' THEN e.kind = 'created'
                   ELSE e.kind = 'contact_changed' AND e.created_at < due.created_at END)"""
    """A change of contact details waits for the work item's own first push (the receiver
    hears of the item first: docs/contract.md); anything else waits for a change of contact
    details queued before it (a cancellation is the item's last word)."""
    claimed_extras = """(SELECT w.referral_id FROM work_items w
                          WHERE w.route_id = d.route_id) AS referral_id,
                         (SELECT w.trace_context FROM work_items w
                          WHERE w.route_id = d.route_id) AS trace_context"""

    async def set_webhook(
        self, conn: Connection, url: str, secret: str, previous_until: datetime
    ) -> datetime | None:
        """Register ``url`` with ``secret``. The same URL again is a rotation: the secret it
        had keeps signing until ``previous_until`` (returned; None for a new URL), and its
        registration time stands. Either way it is enabled and unpaused."""
        until: datetime | None = await conn.fetchval(
            """INSERT INTO webhook (id, url, secret) VALUES (1, $1, $2)
               ON CONFLICT (id) DO UPDATE SET
                   previous_secret = CASE WHEN webhook.url = $1 THEN webhook.secret END,
                   previous_secret_until = CASE WHEN webhook.url = $1 THEN $3::timestamptz END,
                   created_at = CASE WHEN webhook.url = $1 THEN webhook.created_at ELSE now() END,
                   url = $1, secret = $2, refused_at = NULL, refused_rule = NULL,
                   disabled_at = NULL, disabled_reason = NULL, paused_until = NULL
               RETURNING previous_secret_until""",
            url,
            secret,
            previous_until,
        )
        return until

    async def waiting_deliveries(self, conn: Connection) -> list[asyncpg.Record]:
        """Deliveries not yet sent or being retried, with their work item's referral."""
        return list(
            await conn.fetch(
                """SELECT d.*, w.referral_id, w.trace_context FROM deliveries d
                   JOIN work_items w USING (route_id)
                   WHERE d.state = 'pending' FOR UPDATE OF d"""
            )
        )

    async def delete_webhook(self, conn: Connection) -> bool:
        deleted = bool(await conn.fetchval("DELETE FROM webhook WHERE id = 1 RETURNING true"))
        await conn.execute(
            "UPDATE deliveries SET state = 'abandoned' WHERE state IN ('pending', 'sending')"
        )
        return deleted


WEBHOOK = WebhookStore(TABLES, 1)


async def webhook(conn: Connection) -> asyncpg.Record | None:
    return await WEBHOOK.webhook(conn)


async def enqueue_delivery(
    conn: Connection, webhook_id: str, route_id: uuid.UUID, kind: str, payload: dict[str, Any]
) -> None:
    await conn.execute(
        """INSERT INTO deliveries (webhook_id, route_id, kind, payload) VALUES ($1, $2, $3, $4)
           ON CONFLICT (webhook_id) DO NOTHING""",
        webhook_id,
        route_id,
        kind,
        payload,
    )


async def supersede_waiting(conn: Connection, route_id: uuid.UUID, kind: str) -> int:
    """Withdraw the route's ``kind`` pushes not yet delivered (a newer one says all they
    said); how many."""
    result = await conn.execute(
        """UPDATE deliveries SET state = 'cancelled', lease_until = NULL
           WHERE route_id = $1 AND kind = $2 AND state IN ('pending', 'sending')""",
        route_id,
        kind,
    )
    return int(result.split()[-1])


async def next_reminder(conn: Connection, route_id: uuid.UUID) -> int:
    """The number of the work item's next reminder (1 for its first), counted on the work
    item: deliveries are removed after their retention period, so counting them would
    repeat a number."""
    return int(
        await conn.fetchval(
            """UPDATE work_items SET reminders_queued = reminders_queued + 1
               WHERE route_id = $1 RETURNING reminders_queued""",
            route_id,
        )
    )


async def mark_pushed(conn: Connection, route_id: uuid.UUID, at: datetime) -> None:
    """A push about the work item reached the provider's webhook (the first time counts)."""
    await conn.execute(
        "UPDATE work_items SET pushed_at = coalesce(pushed_at, $2) WHERE route_id = $1",
        route_id,
        at,
    )


# ---- changes of contact details -------------------------------------------------------------
async def lock_work_items_of_referral(
    conn: Connection, referral_id: uuid.UUID
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM work_items WHERE referral_id = $1 ORDER BY route_id FOR UPDATE",
            referral_id,
        )
    )


async def mark_erased(
    conn: Connection, referral_id: uuid.UUID, at: datetime
) -> list[asyncpg.Record]:
    """Record the referral as erased and mark every work item of it here as erased (once):
    those rows, locked (only ``erased_at`` changed); an empty list when there are none or
    they were marked already."""
    await conn.execute(
        """INSERT INTO erased_referrals (referral_id, erased_at) VALUES ($1, $2)
           ON CONFLICT (referral_id) DO NOTHING""",
        referral_id,
        at,
    )
    return list(
        await conn.fetch(
            """WITH erased AS (
                   SELECT route_id FROM work_items
                   WHERE referral_id = $1 AND erased_at IS NULL FOR UPDATE
               )
               UPDATE work_items w SET erased_at = $2, updated_at = $2
               FROM erased e WHERE w.route_id = e.route_id
               RETURNING w.*""",
            referral_id,
            at,
        )
    )


async def mark_contact_changed(
    conn: Connection,
    route_id: uuid.UUID,
    *,
    version: int,
    changed_at: datetime,
    fields: list[str],
    facts: dict[str, Any],
) -> None:
    await conn.execute(
        """UPDATE work_items SET contact_version = $2, contact_changed_at = $3,
                                 contact_changed_fields = $4, facts = $5, updated_at = now()
           WHERE route_id = $1""",
        route_id,
        version,
        changed_at,
        fields,
        facts,
    )


async def contact_read(conn: Connection, referral_id: uuid.UUID, version: int) -> None:
    """The provider read version ``version`` of the referral's details: markers of changes up
    to it come off (a change it has not read yet, a later one, keeps its marker)."""
    await conn.execute(
        """UPDATE work_items
           SET contact_read_version = greatest(contact_read_version, $2),
               contact_changed_at = CASE WHEN contact_version <= $2 THEN NULL
                                         ELSE contact_changed_at END,
               contact_changed_fields = CASE WHEN contact_version <= $2 THEN '{}'::text[]
                                             ELSE contact_changed_fields END
           WHERE referral_id = $1""",
        referral_id,
        version,
    )


async def cancel_deliveries(conn: Connection, route_id: uuid.UUID) -> int:
    """Withdraw the route's webhook pushes not yet delivered; how many."""
    result = await conn.execute(
        """UPDATE deliveries SET state = 'cancelled', lease_until = NULL
           WHERE route_id = $1 AND state IN ('pending', 'sending')""",
        route_id,
    )
    return int(result.split()[-1])


async def was_delivered(conn: Connection, route_id: uuid.UUID) -> bool:
    """Whether a push about this route has reached the provider's webhook (recorded on the
    work item: its deliveries go after their retention period)."""
    return bool(
        await conn.fetchval(
            "SELECT pushed_at IS NOT NULL FROM work_items WHERE route_id = $1", route_id
        )
    )


async def is_erased(conn: Connection, referral_id: uuid.UUID) -> bool:
    """Whether intake has announced the referral's erasure to this adapter."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM erased_referrals WHERE referral_id = $1)", referral_id
        )
    )
