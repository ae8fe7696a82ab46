"""Supervisors' overrides of a decision (table ``overrides``): a route added or removed,
with the sealed note that justifies it."""

from __future__ import annotations

import uuid

from services.plumbing.db import Connection


async def add_override(
    conn: Connection,
    request_id: uuid.UUID,
    referral_id: uuid.UUID,
    *,
    action: str,
    service: str,
    sub_service: str | None,
    justification_note: int,
    supervisor: str,
) -> None:
    """``justification_note``: the sealed note (vault) holding the justification."""
    await conn.execute(
        """INSERT INTO overrides (request_id, referral_id, action, service, sub_service,
                                  justification_note, supervisor)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        request_id,
        referral_id,
        action,
        service,
        sub_service,
        justification_note,
        supervisor,
    )


async def supervisor_of(conn: Connection, request_id: uuid.UUID) -> str | None:
    """The supervisor whose override sent the re-assessment ``request_id``, or None."""
    supervisor: str | None = await conn.fetchval(
        "SELECT supervisor FROM overrides WHERE request_id = $1", request_id
    )
    return supervisor
