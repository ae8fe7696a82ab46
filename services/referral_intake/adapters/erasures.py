"""Erasing a referral's personal data at the end of its retention period or on request
(table ``erasures``, and what erasure clears in ``referrals``, ``submissions`` and
``referral_links``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.plumbing.db import Connection
from services.referral_intake.adapters.typed_rows import fetch_one


@dataclass(frozen=True)
class Erasure:
    reason: str
    actor: str
    at: datetime


async def mark_erased(
    conn: Connection, referral_id: uuid.UUID, reason: str, actor: str, at: datetime
) -> None:
    """The personal data is gone: so are the keyed hashes that matched the person, the
    links to their other referrals (which said that both were about one person), and the
    idempotency record of every submission (a re-sent body must not find the erased
    referral, nor a changed one tell that it differs)."""
    await conn.execute(
        """UPDATE referrals SET erased_at = $2, person_key = NULL, crime_key = NULL,
                                person_phone_key = NULL, born_key = NULL,
                                idempotency_key = NULL, request_hash = NULL,
                                idempotency_hmac = NULL, request_hmac = NULL
           WHERE referral_id = $1""",
        referral_id,
        at,
    )
    await conn.execute(
        """UPDATE submissions SET idempotency_key = NULL, request_hash = NULL,
                                  idempotency_hmac = NULL, request_hmac = NULL
           WHERE referral_id = $1""",
        referral_id,
    )
    await conn.execute(
        "DELETE FROM referral_links WHERE referral_id = $1 OR linked_id = $1", referral_id
    )
    await conn.execute(
        "INSERT INTO erasures (referral_id, reason, actor, at) VALUES ($1, $2, $3, $4)",
        referral_id,
        reason,
        actor,
        at,
    )


async def due_for_erasure(conn: Connection, closed_before: datetime, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """SELECT referral_id FROM referrals
           WHERE closed_at < $1 AND erased_at IS NULL ORDER BY closed_at LIMIT $2""",
        closed_before,
        limit,
    )
    return [r["referral_id"] for r in rows]


async def erasure_of(conn: Connection, referral_id: uuid.UUID) -> Erasure | None:
    """The referral's (first) erasure, or None."""
    return await fetch_one(
        conn,
        Erasure,
        "SELECT reason, actor, at FROM erasures WHERE referral_id = $1 ORDER BY at LIMIT 1",
        referral_id,
    )
