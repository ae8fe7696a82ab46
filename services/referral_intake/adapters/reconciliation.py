"""What reconciliation keeps (table ``reconciliation``: how often it re-drove each stuck
referral or route) and the referrals it looks for. Routes stuck undelivered are read
through ``routes.read(undelivered_before=...)``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from schemas import topics
from services.plumbing.db import Connection
from services.referral_intake.adapters.typed_rows import fetch_all, fetch_one


@dataclass(frozen=True)
class Unrouted:
    """A referral no decision has reached, and the event that announced it."""

    referral_id: uuid.UUID
    event_id: uuid.UUID


@dataclass(frozen=True)
class Attempts:
    """How often a stage of a subject was re-driven, the last time at ``last_at``."""

    attempts: int
    last_at: datetime


async def stuck_unrouted(conn: Connection, older_than: datetime, limit: int) -> list[Unrouted]:
    """Referrals received before ``older_than`` that no decision has reached."""
    return await fetch_all(
        conn,
        Unrouted,
        """SELECT f.referral_id, o.event_id FROM referrals f
           JOIN outbox o ON o.topic = $3 AND o.key = f.referral_id::text
           WHERE f.status = 'received' AND f.received_at < $1
           ORDER BY f.received_at LIMIT $2""",
        older_than,
        limit,
        topics.REFERRAL_RECEIVED,
    )


async def reconciliation_attempts(
    conn: Connection, subject: uuid.UUID, stage: str
) -> Attempts | None:
    """None when the stage of ``subject`` was never re-driven; the row is locked."""
    return await fetch_one(
        conn,
        Attempts,
        """SELECT attempts, last_at FROM reconciliation
           WHERE subject = $1 AND stage = $2 FOR UPDATE""",
        subject,
        stage,
    )


async def record_reconciliation(
    conn: Connection, subject: uuid.UUID, stage: str, at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO reconciliation (subject, stage, attempts, last_at) VALUES ($1, $2, 1, $3)
           ON CONFLICT (subject, stage) DO UPDATE
           SET attempts = reconciliation.attempts + 1, last_at = $3""",
        subject,
        stage,
        at,
    )
