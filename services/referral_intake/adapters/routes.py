"""The routes of each referral (table ``routes``) and the SLA breaches recorded against them
(``sla_breaches``). Every read of routes goes through ``read``: one query, shaped by what
the caller asks for, returning ``StoredRoute`` rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.codes import ConsentBasis, Priority, RouteStatus, Service
from schemas.events import Route
from services.plumbing.db import Connection
from services.referral_intake.adapters.typed_rows import fetch_all

DEADLINES = frozenset(
    {"acknowledge_by", "second_acknowledge_by", "contact_due_by", "code_deadline"}
)
"""The route's clock columns (``domain.sla.SlaClock.deadline`` names one)."""


@dataclass(frozen=True)
class StoredRoute:
    """One route as intake keeps it: what the router decided, its FHIR-aligned status
    (migration 001), its clocks (UTC), and whether a clock was missed (002)."""

    route_id: uuid.UUID
    referral_id: uuid.UUID
    decision_id: uuid.UUID
    service: Service
    sub_service: str
    priority: Priority
    rule_ids: tuple[str, ...]
    reason: str
    consent_basis: ConsentBasis
    status: RouteStatus
    requested_at: datetime
    acknowledge_by: datetime
    second_acknowledge_by: datetime | None
    contact_due_by: datetime
    code_deadline: datetime
    updated_at: datetime
    breached: bool
    trigger_event_id: uuid.UUID | None
    """The event whose decision created the route (reconciliation re-drives it)."""

    def deadline(self, name: str) -> datetime:
        """The clock ``name`` (one of ``DEADLINES``); ``ValueError`` when it is not set."""
        if name not in DEADLINES:
            raise ValueError(f"{name!r} is not a route clock")
        due: datetime | None = getattr(self, name)
        if due is None:
            raise ValueError(f"the route has no {name}")
        return due


@dataclass(frozen=True)
class Overdue:
    """Routes in ``statuses`` whose ``deadline`` (one of ``DEADLINES``) is at or before
    ``now`` and whose breach of ``clock`` is not recorded yet, the most overdue first."""

    deadline: str
    statuses: Sequence[RouteStatus]
    clock: str
    now: datetime


async def read(
    conn: Connection,
    *,
    route_id: uuid.UUID | None = None,
    referral_id: uuid.UUID | None = None,
    referral_ids: Sequence[uuid.UUID] | None = None,
    service: Service | None = None,
    overdue: Overdue | None = None,
    undelivered_before: datetime | None = None,
    newest_first: bool = False,
    limit: int | None = None,
    lock: bool = False,
) -> list[StoredRoute]:
    """The routes that meet every condition given, oldest request first (then by service),
    or newest first. ``undelivered_before``: still ``requested`` since before then, created
    by a known event, and never reported ``queued`` by its adapter (what reconciliation
    re-drives). ``lock`` takes the rows ``FOR UPDATE``."""
    where: list[str] = []
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if route_id is not None:
        where.append(f"r.route_id = {arg(route_id)}")
    if referral_id is not None:
        where.append(f"r.referral_id = {arg(referral_id)}")
    if referral_ids is not None:
        where.append(f"r.referral_id = ANY({arg(list(referral_ids))}::uuid[])")
    if service is not None:
        where.append(f"r.service = {arg(service.value)}")
    order = "r.requested_at DESC" if newest_first else "r.requested_at, r.service"
    if overdue is not None:
        if overdue.deadline not in DEADLINES:
            raise ValueError(f"{overdue.deadline!r} is not a route clock")
        where.append(f"r.status = ANY({arg([s.value for s in overdue.statuses])}::text[])")
        where.append(f"r.{overdue.deadline} <= {arg(overdue.now)}")
        where.append(
            "NOT EXISTS (SELECT 1 FROM sla_breaches b WHERE b.route_id = r.route_id"  # noqa: S608
            f" AND b.clock = {arg(overdue.clock)})"
        )
        order = f"r.{overdue.deadline}"
    if undelivered_before is not None:
        where.append(
            f"r.status = 'requested' AND r.requested_at < {arg(undelivered_before)}"  # noqa: S608
            " AND r.trigger_event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM timeline t"
            " WHERE t.route_id = r.route_id AND t.event = 'queued')"
        )
    # Built from this function's own constants; every value is a parameter.
    sql = f"SELECT r.* FROM routes r WHERE {' AND '.join(where) or 'true'} ORDER BY {order}"  # noqa: S608
    if limit is not None:
        sql += f" LIMIT {arg(limit)}"
    if lock:
        sql += " FOR UPDATE"
    return await fetch_all(conn, StoredRoute, sql, *args)


async def get(conn: Connection, route_id: uuid.UUID, *, lock: bool = False) -> StoredRoute | None:
    """One route, or None when no decision has created it yet."""
    found = await read(conn, route_id=route_id, lock=lock)
    return found[0] if found else None


async def insert(
    conn: Connection,
    referral_id: uuid.UUID,
    decision_id: uuid.UUID,
    route: Route,
    status: str,
    trigger_event_id: uuid.UUID | None = None,
) -> None:
    """A route the router decided; nothing when it is stored already (a decision re-sent)."""
    await conn.execute(
        """INSERT INTO routes (route_id, referral_id, decision_id, service, sub_service, priority,
                               rule_ids, reason, consent_basis, status, requested_at,
                               acknowledge_by, contact_due_by, code_deadline, updated_at,
                               second_acknowledge_by, trigger_event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $11, $15, $16)
           ON CONFLICT (route_id) DO NOTHING""",
        route.route_id,
        referral_id,
        decision_id,
        route.service.value,
        route.sub_service,
        route.priority.value,
        route.rule_ids,
        route.reason,
        route.consent_basis.value,
        status,
        route.requested_at,
        route.acknowledge_by,
        route.contact_due_by,
        route.code_deadline,
        route.second_acknowledge_by,
        trigger_event_id,
    )


async def set_status(
    conn: Connection, route_id: uuid.UUID, status: str, at: datetime
) -> uuid.UUID | None:
    """Returns the route's referral id, or None when the route is not known yet."""
    referral_id: uuid.UUID | None = await conn.fetchval(
        "UPDATE routes SET status = $2, updated_at = $3 WHERE route_id = $1 RETURNING referral_id",
        route_id,
        status,
        at,
    )
    return referral_id


async def record_breach(
    conn: Connection, route_id: uuid.UUID, clock: str, due_at: datetime, detected_at: datetime
) -> bool:
    """False when this breach was recorded before: each breach is reported once."""
    return bool(
        await conn.fetchval(
            """INSERT INTO sla_breaches (route_id, clock, due_at, detected_at)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
            route_id,
            clock,
            due_at,
            detected_at,
        )
    )


async def mark_breached(
    conn: Connection, route_id: uuid.UUID, status: str | None, at: datetime
) -> None:
    """The route missed a clock; ``status``, when given, replaces its status."""
    await conn.execute(
        """UPDATE routes SET breached = true, status = coalesce($2, status), updated_at = $3
           WHERE route_id = $1""",
        route_id,
        status,
        at,
    )
