"""SQL for intake's own tables. Every function takes the connection (and so the
transaction) it works in; handlers decide where transactions begin and end."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from schemas.events import ReferralFacts, Route
from services.plumbing.db import Connection


async def find_by_idempotency_key(conn: Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT referral_id, request_hash, status FROM referrals WHERE idempotency_key = $1", key
    )


async def insert_referral(
    conn: Connection,
    facts: ReferralFacts,
    *,
    submitted_by: str,
    idempotency_key: str | None,
    request_hash: str,
) -> None:
    await conn.execute(
        """INSERT INTO referrals (referral_id, received_at, status, source, local_authority, facts,
                                  submitted_by, idempotency_key, request_hash, updated_at)
           VALUES ($1, $2, 'received', $3, $4, $5, $6, $7, $8, $2)""",
        facts.referral_id,
        facts.received_at,
        facts.source.value,
        facts.local_authority.value,
        facts.model_dump(mode="json"),
        submitted_by,
        idempotency_key,
        request_hash,
    )


async def insert_vault(conn: Connection, referral_id: uuid.UUID, personal: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO vault (referral_id, personal) VALUES ($1, $2)", referral_id, personal
    )


async def read_vault(conn: Connection, referral_id: uuid.UUID) -> dict[str, Any] | None:
    personal: dict[str, Any] | None = await conn.fetchval(
        "SELECT personal FROM vault WHERE referral_id = $1", referral_id
    )
    return personal


async def add_timeline(
    conn: Connection,
    referral_id: uuid.UUID,
    event: str,
    at: datetime,
    *,
    route_id: uuid.UUID | None = None,
    status: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO timeline (referral_id, route_id, event, status, at, detail)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        referral_id,
        route_id,
        event,
        status,
        at,
        detail or {},
    )


async def referral_exists(conn: Connection, referral_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM referrals WHERE referral_id = $1 FOR UPDATE", referral_id
        )
    )


async def store_decision(
    conn: Connection, referral_id: uuid.UUID, decision: dict[str, Any], at: datetime
) -> None:
    await conn.execute(
        "UPDATE referrals SET decision = $2, updated_at = $3 WHERE referral_id = $1",
        referral_id,
        decision,
        at,
    )


async def latest_reported_status(conn: Connection, route_id: uuid.UUID) -> str | None:
    status: str | None = await conn.fetchval(
        """SELECT status FROM timeline WHERE route_id = $1 AND status IS NOT NULL
           ORDER BY id DESC LIMIT 1""",
        route_id,
    )
    return status


async def insert_route(
    conn: Connection,
    referral_id: uuid.UUID,
    decision_id: uuid.UUID,
    route: Route,
    status: str,
) -> None:
    await conn.execute(
        """INSERT INTO routes (route_id, referral_id, decision_id, service, sub_service, priority,
                               rule_ids, reason, consent_basis, status, requested_at,
                               acknowledge_by, contact_due_by, code_deadline, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $11)
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
    )


async def set_route_status(
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


async def route_statuses(conn: Connection, referral_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch("SELECT status FROM routes WHERE referral_id = $1", referral_id)
    return [r["status"] for r in rows]


async def referral_decision(conn: Connection, referral_id: uuid.UUID) -> dict[str, Any] | None:
    decision: dict[str, Any] | None = await conn.fetchval(
        "SELECT decision FROM referrals WHERE referral_id = $1", referral_id
    )
    return decision


async def set_referral_status(
    conn: Connection, referral_id: uuid.UUID, status: str, at: datetime
) -> None:
    await conn.execute(
        """UPDATE referrals SET status = $2, updated_at = greatest(updated_at, $3)
           WHERE referral_id = $1""",
        referral_id,
        status,
        at,
    )


async def open_route_for_service(
    conn: Connection, referral_id: uuid.UUID, service: str, open_statuses: list[str]
) -> uuid.UUID | None:
    route_id: uuid.UUID | None = await conn.fetchval(
        """SELECT route_id FROM routes
           WHERE referral_id = $1 AND service = $2 AND status = ANY($3::text[])
           ORDER BY requested_at DESC LIMIT 1""",
        referral_id,
        service,
        open_statuses,
    )
    return route_id


async def log_disclosure(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    accessor: str,
    service: str | None,
    fields: list[str],
    purpose: str,
) -> None:
    await conn.execute(
        """INSERT INTO disclosure_log (referral_id, accessor, service, fields, purpose)
           VALUES ($1, $2, $3, $4, $5)""",
        referral_id,
        accessor,
        service,
        fields,
        purpose,
    )


async def load_referral(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT referral_id, received_at, status, facts, decision FROM referrals
           WHERE referral_id = $1""",
        referral_id,
    )


async def load_routes(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM routes WHERE referral_id = $1 ORDER BY requested_at, service",
            referral_id,
        )
    )


async def load_timeline(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT t.route_id, t.event, t.status, t.at, t.detail, r.service
               FROM timeline t LEFT JOIN routes r USING (route_id)
               WHERE t.referral_id = $1 ORDER BY t.id""",
            referral_id,
        )
    )
