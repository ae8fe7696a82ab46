"""The part of a webhook's storage (``webhooks.Store``) that is the same whoever owns it:
reading the webhook, pausing, disabling or marking it refused, and recording each
delivery's attempts and end. A service names its tables and how a webhook is keyed
(``WebhookTables``) and writes only what is its own (registration, claiming in its order,
what is waiting, removal).

Table and column names are constants of the service's code, never input: they are put in
the SQL text; every value is a parameter."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import asyncpg

from services.plumbing.db import Connection
from services.plumbing.webhook_rules import canonical_url


@dataclass(frozen=True)
class WebhookTables:
    """``webhooks``: one row per owner, keyed by ``owner_column``, with the columns
    ``url, secret, created_at, refused_at, refused_rule, previous_secret,
    previous_secret_until, disabled_at, disabled_reason, paused_until``. ``deliveries``
    (``webhook_id`` primary key, ``state``, ``attempts``, ``next_attempt_at``,
    ``lease_until``, ``delivered_at``, ``last_error``, ``created_at``; the owner column too
    when ``deliveries_by_owner``) and ``attempts`` (one row per attempt)."""

    webhooks: str
    deliveries: str
    attempts: str
    owner_column: str
    deliveries_by_owner: bool


ENDED_STATES = ("failed", "refused", "disabled", "abandoned", "cancelled")
"""States of a delivery that ended without reaching its receiver (never tried again)."""


async def delete_ended(
    conn: Connection,
    tables: WebhookTables,
    *,
    delivered_before: datetime,
    ended_before: datetime,
    limit: int,
) -> int:
    """Remove up to ``limit`` deliveries, with their attempts, every owner's: those
    delivered and queued before ``delivered_before``, and those that ended otherwise
    (``ENDED_STATES``) and were queued before ``ended_before``. Never one still pending or
    being sent. How many were removed. Rows another transaction holds are left for the next
    time."""
    t = tables
    removed: str = await conn.execute(
        f"""WITH old AS (
                SELECT webhook_id FROM {t.deliveries}
                WHERE (state = 'delivered' AND created_at < $1)
                   OR (state = ANY($2::text[]) AND created_at < $3)
                LIMIT $4 FOR UPDATE SKIP LOCKED
            ), attempts AS (
                DELETE FROM {t.attempts} a USING old WHERE a.webhook_id = old.webhook_id
            )
            DELETE FROM {t.deliveries} d USING old
            WHERE d.webhook_id = old.webhook_id""",  # noqa: S608 - constants
        delivered_before,
        list(ENDED_STATES),
        ended_before,
        limit,
    )
    return int(removed.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class TableStore(ABC):
    """One owner's webhook and its deliveries in ``tables``, as the dispatcher
    (``services/plumbing/webhooks.py``) uses them. A delivery row it claims carries
    ``webhook_id, kind, payload, state, attempts, first_attempt_at, referral_id,
    trace_context`` (states: pending, sending, delivered, failed, refused, disabled,
    abandoned, and cancelled for a withdrawn one). What differs between owners is
    abstract: registering, what is waiting and removal; and the order deliveries are
    claimed in is each owner's ``claim_*``."""

    tables: WebhookTables
    owner: object

    claim_key: ClassVar[str]
    """The deliveries' columns (SQL expressions) a receiver must hear of in order: one
    delivery per value is sent at a time (a work item's route and lane, a referral)."""
    claim_order: ClassVar[str]
    """The column that orders the deliveries of one ``claim_key``, earliest first."""
    held_back: ClassVar[str] = "false"
    """SQL that is true when the first waiting delivery of a ``claim_key`` value (``due``,
    every column of it) must wait still, behind one of another value (a work item's change
    of contact details behind the work item's own first push)."""
    claimed_extras: ClassVar[str]
    """SQL for what a claimed row carries beside the delivery's own columns (``d``):
    ``referral_id`` and ``trace_context`` where the deliveries table lacks them."""

    async def webhook(self, conn: Connection) -> asyncpg.Record | None:
        t = self.tables
        return await conn.fetchrow(
            f"""SELECT url, secret, created_at, refused_at, refused_rule, previous_secret,
                       previous_secret_until, disabled_at, disabled_reason, paused_until
                FROM {t.webhooks} WHERE {t.owner_column} = $1""",  # noqa: S608 - constants
            self.owner,
        )

    async def respell(self, conn: Connection, url: str) -> None:
        """Store ``url`` (a ``webhook_rules.canonical_url``) in place of the registered URL
        when that is another spelling of it (registered before URLs were kept in one
        spelling), so that registering it again is a rotation."""
        row = await self.webhook(conn)
        if row is None or row["url"] == url or canonical_url(row["url"]) != url:
            return
        t = self.tables
        await conn.execute(
            f"""UPDATE {t.webhooks} SET url = $2
                WHERE {t.owner_column} = $1 AND url = $3""",  # noqa: S608 - constants
            self.owner,
            url,
            row["url"],
        )

    async def pause_webhook(self, conn: Connection, url: str, until: datetime) -> None:
        """Nothing more is sent to ``url`` before ``until`` (a later pause stands)."""
        t = self.tables
        await conn.execute(
            f"""UPDATE {t.webhooks} SET paused_until = greatest(paused_until, $3)
                WHERE {t.owner_column} = $1 AND url = $2""",  # noqa: S608 - constants
            self.owner,
            url,
            until,
        )

    async def disable_webhook(self, conn: Connection, url: str, reason: str, at: datetime) -> bool:
        """Disable ``url`` if it is still the one registered; True when it was enabled."""
        t = self.tables
        return bool(
            await conn.fetchval(
                f"""UPDATE {t.webhooks} SET disabled_at = $4, disabled_reason = $3
                    WHERE {t.owner_column} = $1 AND url = $2 AND disabled_at IS NULL
                    RETURNING true""",  # noqa: S608 - constants
                self.owner,
                url,
                reason,
                at,
            )
        )

    async def mark_webhook_refused(
        self, conn: Connection, url: str, rule: str, at: datetime
    ) -> None:
        """Only if the URL is still the one refused (its owner may have registered another)."""
        t = self.tables
        await conn.execute(
            f"""UPDATE {t.webhooks} SET refused_at = $4, refused_rule = $3
                WHERE {t.owner_column} = $1 AND url = $2""",  # noqa: S608 - constants
            self.owner,
            url,
            rule,
            at,
        )

    async def delivery_counts(self, conn: Connection, since: datetime) -> dict[str, int]:
        """Deliveries queued since ``since``, by state."""
        t = self.tables
        if t.deliveries_by_owner:
            rows = await conn.fetch(
                f"""SELECT state, count(*) AS n FROM {t.deliveries}
                    WHERE created_at >= $1 AND {t.owner_column} = $2
                    GROUP BY state""",  # noqa: S608 - constants
                since,
                self.owner,
            )
        else:
            rows = await conn.fetch(
                f"""SELECT state, count(*) AS n FROM {t.deliveries}
                    WHERE created_at >= $1 GROUP BY state""",  # noqa: S608 - constants
                since,
            )
        return {row["state"]: int(row["n"]) for row in rows}

    async def record_attempt(
        self,
        conn: Connection,
        webhook_id: str,
        attempt: int,
        at: datetime,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        await conn.execute(
            f"""INSERT INTO {self.tables.attempts}
                    (webhook_id, attempt, at, status_code, error, duration_ms)
                VALUES ($1, $2, $3, $4, $5, $6)""",  # noqa: S608 - constants
            webhook_id,
            attempt,
            at,
            status_code,
            error,
            duration_ms,
        )

    async def finish_delivery(
        self,
        conn: Connection,
        webhook_id: str,
        *,
        state: str,
        attempts: int,
        next_attempt_at: datetime | None,
        error: str | None,
        at: datetime,
    ) -> None:
        """Record an attempt's result; a delivery withdrawn meanwhile (``cancelled``) stays so."""
        await conn.execute(
            f"""UPDATE {self.tables.deliveries}
                SET state = $2, attempts = $3, next_attempt_at = coalesce($4, next_attempt_at),
                    last_error = $5, lease_until = NULL,
                    delivered_at = CASE WHEN $2 = 'delivered' THEN $6 ELSE delivered_at END
                WHERE webhook_id = $1 AND state <> 'cancelled'""",  # noqa: S608 - constants
            webhook_id,
            state,
            attempts,
            next_attempt_at,
            error,
            at,
        )

    async def delivery_state(self, conn: Connection, webhook_id: str) -> asyncpg.Record | None:
        return await conn.fetchrow(
            f"SELECT * FROM {self.tables.deliveries} WHERE webhook_id = $1",  # noqa: S608 - constants
            webhook_id,
        )

    async def claim_deliveries(
        self, conn: Connection, now: datetime, lease: float, limit: int
    ) -> list[asyncpg.Record]:
        """Due deliveries, at most one per ``claim_key`` and only the earliest of each (so a
        receiver hears of one work item's or referral's changes in order), leased to this
        dispatcher until ``now + lease`` seconds. A lease that ran out (its dispatcher
        died) makes a delivery due again."""
        t = self.tables
        owner = [self.owner] if t.deliveries_by_owner else []
        mine = f"{t.owner_column} = $4 AND " if owner else ""
        return list(
            await conn.fetch(
                f"""WITH due AS (
                        SELECT DISTINCT ON ({self.claim_key}) *
                        FROM {t.deliveries}
                        WHERE {mine}state IN ('pending', 'sending')
                        ORDER BY {self.claim_key}, {self.claim_order}
                    ), claimable AS (
                        SELECT webhook_id FROM due
                        WHERE next_attempt_at <= $1
                          AND (state = 'pending' OR lease_until < $1)
                          AND NOT ({self.held_back})
                        ORDER BY next_attempt_at
                        LIMIT $3
                    )
                    UPDATE {t.deliveries} d
                    SET state = 'sending', lease_until = $1 + make_interval(secs => $2),
                        first_attempt_at = coalesce(d.first_attempt_at, $1)
                    FROM claimable c
                    WHERE d.webhook_id = c.webhook_id
                    RETURNING d.*, {self.claimed_extras}""",  # noqa: S608 - constants
                now,
                lease,
                limit,
                *owner,
            )
        )

    @classmethod
    async def next_due(cls, conn: Connection, tables: WebhookTables) -> datetime | None:
        """When the next delivery in ``tables`` comes due, every owner's: the earliest of
        each ``claim_key``'s first waiting delivery (the only one claimable), at its next
        attempt (a lease that runs out, for one being sent), and not before its receiver's
        pause ends; never one of a disabled webhook, nor one ``held_back`` (what holds it
        back comes due itself). None when nothing waits."""
        t = tables
        key = f"{t.owner_column}, {cls.claim_key}" if t.deliveries_by_owner else cls.claim_key
        hooks = (
            f"JOIN {t.webhooks} w ON w.{t.owner_column} = due.{t.owner_column}"
            if t.deliveries_by_owner
            else f"CROSS JOIN {t.webhooks} w"
        )
        due: datetime | None = await conn.fetchval(
            f"""SELECT min(greatest(
                           CASE WHEN due.state = 'pending' THEN due.next_attempt_at
                                ELSE due.lease_until END,
                           coalesce(w.paused_until, '-infinity')))
                FROM (SELECT DISTINCT ON ({key}) *
                      FROM {t.deliveries} WHERE state IN ('pending', 'sending')
                      ORDER BY {key}, {cls.claim_order}) due
                {hooks}
                WHERE w.disabled_at IS NULL AND NOT ({cls.held_back})""",  # noqa: S608 - constants
        )
        return due

    @abstractmethod
    async def set_webhook(
        self, conn: Connection, url: str, secret: str, previous_until: datetime
    ) -> datetime | None:
        """Register ``url`` with ``secret``, enabled and unpaused; the same URL again keeps
        its previous secret until ``previous_until`` (returned; None for a new URL)."""

    @abstractmethod
    async def waiting_deliveries(self, conn: Connection) -> list[asyncpg.Record]:
        """Deliveries not yet sent or being retried, locked for this transaction."""

    @abstractmethod
    async def delete_webhook(self, conn: Connection) -> bool:
        """Remove the webhook and abandon what waits for it; False when there was none."""
