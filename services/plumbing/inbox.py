"""Idempotent consumers: remember each applied event in the same transaction as its effects."""

from __future__ import annotations

import uuid

from services.plumbing import outbox
from services.plumbing.db import Connection


async def first_time(conn: Connection, consumer: str, event_id: uuid.UUID, topic: str) -> bool:
    """True when ``consumer`` has not applied ``event_id`` before. Call inside the transaction
    that applies it: if that transaction rolls back, the event counts as never seen."""
    inserted = await conn.fetchval(
        """INSERT INTO inbox (consumer, event_id, topic) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        event_id,
        topic,
    )
    return bool(inserted)


async def first_time_or_redrive(
    conn: Connection, consumer: str, event_id: uuid.UUID, topic: str
) -> bool:
    """Like ``first_time``; for an event seen before, also publish again what handling it
    produced (``outbox.redrive``), so that a re-driven event heals a lost downstream one."""
    if await first_time(conn, consumer, event_id, topic):
        return True
    await outbox.redrive(conn, event_id)
    return False


async def first_times_or_redrive(
    conn: Connection, consumer: str, events: list[tuple[uuid.UUID, str]]
) -> set[uuid.UUID]:
    """``first_time_or_redrive`` for many events (id, topic) in one statement each: the ids
    not applied before. Everything that handling the others produced is published again."""
    if not events:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id, topic)
           SELECT $1, e.event_id, e.topic FROM unnest($2::uuid[], $3::text[]) AS e(event_id, topic)
           ON CONFLICT DO NOTHING RETURNING event_id""",
        consumer,
        [event_id for event_id, _ in events],
        [topic for _, topic in events],
    )
    new = {row["event_id"] for row in rows}
    seen = list({event_id for event_id, _ in events if event_id not in new})
    if seen:
        await outbox.redrive_many(conn, seen)
    return new
