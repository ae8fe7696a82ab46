"""The referrers' webhooks and their deliveries (migration 110): one webhook per client that
submits referrals (``owner``, its token's subject), stored as the shared dispatcher
(``services/plumbing/webhooks.py``, its ``Store``) expects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.plumbing.db import Connection
from services.plumbing.webhook_store import TableStore, WebhookTables

TABLES = WebhookTables(
    webhooks="referrer_webhooks",
    deliveries="referrer_deliveries",
    attempts="referrer_delivery_attempts",
    owner_column="owner",
    deliveries_by_owner=True,
)


async def settled_head(conn: Connection, settled_before: datetime) -> int:
    """The last timeline id recorded before ``settled_before`` (0: none): where a new
    webhook starts, so that every change recorded after its registration reaches it."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(max(id), 0) FROM timeline WHERE recorded_at < $1", settled_before
        )
    )


async def enabled_owners(conn: Connection) -> list[str]:
    """Owners of a webhook its receiver has not disabled."""
    rows = await conn.fetch(
        "SELECT owner FROM referrer_webhooks WHERE disabled_at IS NULL ORDER BY owner"
    )
    return [row["owner"] for row in rows]


async def lock_for_queueing(conn: Connection, owner: str) -> int | None:
    """The feed position of ``owner``'s enabled webhook, locked for this transaction; None
    when there is none, or another replica is queueing for it now."""
    position: int | None = await conn.fetchval(
        """SELECT feed_position FROM referrer_webhooks
           WHERE owner = $1 AND disabled_at IS NULL FOR UPDATE SKIP LOCKED""",
        owner,
    )
    return position


async def queue(
    conn: Connection,
    owner: str,
    messages: list[tuple[str, uuid.UUID, int, dict[str, Any]]],
    position: int,
) -> None:
    """Queue ``(webhook_id, referral_id, timeline_id, payload)`` messages and move the
    webhook's feed position to ``position``, in the caller's transaction."""
    await conn.executemany(
        """INSERT INTO referrer_deliveries (webhook_id, owner, referral_id, timeline_id, kind,
                                            payload)
           VALUES ($1, $2, $3, $4, 'status_changed', $5)
           ON CONFLICT (webhook_id) DO NOTHING""",
        [(webhook_id, owner, referral, at, body) for webhook_id, referral, at, body in messages],
    )
    await conn.execute(
        "UPDATE referrer_webhooks SET feed_position = $2 WHERE owner = $1", owner, position
    )


@dataclass(frozen=True)
class ReferrerWebhookStore(TableStore):
    """One owner's webhook and deliveries (``services.plumbing.webhooks.Store``)."""

    claim_key = "referral_id"
    claim_order = "timeline_id"
    claimed_extras = "NULL::jsonb AS trace_context"

    settle: timedelta = timedelta(0)
    """How long after it was recorded a change is settled (``STATUS_FEED_SETTLE_SECONDS``)."""

    async def set_webhook(
        self, conn: Connection, url: str, secret: str, previous_until: datetime
    ) -> datetime | None:
        """Register ``url`` with ``secret``. The same URL again is a rotation: the secret it
        had keeps signing until ``previous_until`` (returned; None for a new URL), and its
        registration time and feed position stand. A new URL, or one its receiver had
        disabled, starts from the changes recorded from now on (the feed has the rest)."""
        start = await settled_head(conn, datetime.now(UTC) - self.settle)
        until: datetime | None = await conn.fetchval(
            """INSERT INTO referrer_webhooks AS w (owner, url, secret, feed_position)
               VALUES ($1, $2, $3, $5)
               ON CONFLICT (owner) DO UPDATE SET
                   previous_secret = CASE WHEN w.url = $2 THEN w.secret END,
                   previous_secret_until = CASE WHEN w.url = $2 THEN $4::timestamptz END,
                   created_at = CASE WHEN w.url = $2 THEN w.created_at ELSE now() END,
                   feed_position = CASE WHEN w.url = $2 AND w.disabled_at IS NULL
                                        THEN w.feed_position ELSE $5 END,
                   url = $2, secret = $3, refused_at = NULL, refused_rule = NULL,
                   disabled_at = NULL, disabled_reason = NULL, paused_until = NULL
               RETURNING previous_secret_until""",
            self.owner,
            url,
            secret,
            previous_until,
            start,
        )
        return until

    async def waiting_deliveries(self, conn: Connection) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                """SELECT *, NULL::jsonb AS trace_context FROM referrer_deliveries
                   WHERE owner = $1 AND state = 'pending' FOR UPDATE""",
                self.owner,
            )
        )

    async def delete_webhook(self, conn: Connection) -> bool:
        deleted = bool(
            await conn.fetchval(
                "DELETE FROM referrer_webhooks WHERE owner = $1 RETURNING true", self.owner
            )
        )
        await conn.execute(
            """UPDATE referrer_deliveries SET state = 'abandoned', lease_until = NULL
               WHERE owner = $1 AND state IN ('pending', 'sending')""",
            self.owner,
        )
        return deleted


def store(owner: str, settle: timedelta) -> ReferrerWebhookStore:
    return ReferrerWebhookStore(TABLES, owner, settle)
