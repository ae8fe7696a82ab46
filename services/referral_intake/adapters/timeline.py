"""Everything that happened to a referral and its routes (table ``timeline``), as staff and
the submitting triage service read it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.codes import RejectionReason
from services.plumbing.db import Connection
from services.referral_intake.adapters.typed_rows import fetch_all


@dataclass(frozen=True)
class TimelineEntry:
    """One step: ``event`` (``received``, ``routed``, ``queued``, a breach…), the route's
    ``status`` after it when it moved one, coded ``detail``, and who took it: ``actor`` (a
    coded actor or a service) with the name a provider's person gave (``actor_name``)."""

    route_id: uuid.UUID | None
    event: str
    status: str | None
    at: datetime
    detail: dict[str, Any]
    actor: str | None
    actor_name: str | None


@dataclass(frozen=True)
class StatusChange:
    """One timeline entry as the status feed gives it: ``id`` orders the feed."""

    id: int
    referral_id: uuid.UUID
    route_id: uuid.UUID | None
    event: str
    status: str | None
    at: datetime
    detail: dict[str, Any]


async def add(
    conn: Connection,
    referral_id: uuid.UUID,
    event: str,
    at: datetime,
    *,
    actor: str,
    route_id: uuid.UUID | None = None,
    status: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO timeline (referral_id, route_id, event, status, at, detail, actor)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        referral_id,
        route_id,
        event,
        status,
        at,
        detail or {},
        actor,
    )


async def of_referral(conn: Connection, referral_id: uuid.UUID) -> list[TimelineEntry]:
    """The referral's timeline in the order things happened. Steps arrive on two topics
    (the router's decision, the adapters' status reports), so a provider's ``queued`` can be
    stored before the ``requested`` it follows: order by when each happened, then by arrival."""
    return await fetch_all(
        conn,
        TimelineEntry,
        """SELECT t.route_id, t.event, t.status, t.at, t.detail, t.actor,
                  p.display_name AS actor_name
           FROM timeline t LEFT JOIN provider_people p ON p.actor = t.actor
           WHERE t.referral_id = $1 ORDER BY t.at, t.id""",
        referral_id,
    )


async def latest_reported_status(conn: Connection, route_id: uuid.UUID) -> str | None:
    """The status the route's latest report gave it (a report can arrive before the route)."""
    status: str | None = await conn.fetchval(
        """SELECT status FROM timeline WHERE route_id = $1 AND status IS NOT NULL
           ORDER BY id DESC LIMIT 1""",
        route_id,
    )
    return status


async def latest_rejection_reason(conn: Connection, route_id: uuid.UUID) -> RejectionReason | None:
    reason: str | None = await conn.fetchval(
        """SELECT detail->>'rejection_reason' FROM timeline
           WHERE route_id = $1 AND status = 'rejected' ORDER BY id DESC LIMIT 1""",
        route_id,
    )
    return RejectionReason(reason) if reason else None


async def changes_for_submitter(
    conn: Connection,
    *,
    submitted_by: str,
    after_id: int,
    settled_before: datetime,
    limit: int,
) -> list[StatusChange]:
    """Timeline entries of the referrals ``submitted_by`` submitted, after ``after_id``, in
    the order they were written, only those written before ``settled_before``."""
    return await fetch_all(
        conn,
        StatusChange,
        """SELECT t.id, t.referral_id, t.route_id, t.event, t.status, t.at, t.detail
           FROM timeline t JOIN referrals r USING (referral_id)
           WHERE r.submitted_by = $1 AND t.id > $2 AND t.recorded_at < $3
           ORDER BY t.id
           LIMIT $4""",
        submitted_by,
        after_id,
        settled_before,
        limit,
    )
