"""Transactional outbox: ``add`` inside the caller's transaction, ``OutboxRelay`` publishes.

Only one relay per schema publishes at a time (a session advisory lock elects it), so that
events leave in the order they were written; the others stand by. The relay is woken by
LISTEN/NOTIFY when a transaction with outbox rows commits, and polls as a fallback in case
a notification is missed (a listener that is reconnecting hears nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from opentelemetry import context, propagate

from services.plumbing import db
from services.plumbing.db import Connection
from services.plumbing.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_SECONDS, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 15.0
"""Seconds to wait for the broker to acknowledge a batch of events before treating it as
down."""
BACKLOG_EVERY_SECONDS = 1.0
"""How often the relay measures its backlog for ``/metrics`` (not after every drain)."""


@dataclass(frozen=True)
class OutgoingEvent:
    topic: str
    key: uuid.UUID
    envelope: dict[str, Any]
    headers: dict[str, str]

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.UUID(str(self.envelope["id"]))


_INSERT = """INSERT INTO outbox (event_id, topic, key, payload, headers, caused_by)
             VALUES ($1, $2, $3, $4, $5, $6)"""


async def add(
    conn: Connection, events: list[OutgoingEvent], *, caused_by: uuid.UUID | None = None
) -> None:
    """Write events to the outbox. Call inside the transaction that makes the change.
    ``caused_by`` is the id of the event being handled, if any: see ``redrive``."""
    await add_each(conn, [(e, caused_by) for e in events])


async def add_each(conn: Connection, events: list[tuple[OutgoingEvent, uuid.UUID | None]]) -> None:
    """``add`` for events handled together, each with the id of the event that caused it."""
    rows = [(e.event_id, e.topic, str(e.key), e.envelope, e.headers, cause) for e, cause in events]
    if len(rows) == 1:  # the usual case: one statement, cheaper than a batch of one
        await conn.execute(_INSERT, *rows[0])
    elif rows:
        await conn.executemany(_INSERT, rows)


async def redrive(conn: Connection, caused_by: uuid.UUID) -> int:
    """Publish again, unchanged (same event ids), everything handling ``caused_by`` produced.

    A consumer that receives an event it has handled before calls this instead of doing
    nothing: if the broker lost what it published (a broker restarted with memory storage,
    a partition lost), the next service gets it again; if not, that service's inbox drops
    the duplicate. This is how a re-driven referral finds its way through every hop."""
    result: str = await conn.execute(
        "UPDATE outbox SET published_at = NULL WHERE caused_by = $1 AND published_at IS NOT NULL",
        caused_by,
    )
    return int(result.rsplit(" ", 1)[-1])


async def redrive_many(conn: Connection, caused_by: list[uuid.UUID]) -> int:
    """``redrive`` for several handled events at once."""
    result: str = await conn.execute(
        """UPDATE outbox SET published_at = NULL
           WHERE caused_by = ANY($1::uuid[]) AND published_at IS NOT NULL""",
        caused_by,
    )
    return int(result.rsplit(" ", 1)[-1])


async def redrive_event(conn: Connection, event_id: uuid.UUID) -> bool:
    """Publish one event of this service's again, unchanged."""
    result: str = await conn.execute(
        "UPDATE outbox SET published_at = NULL WHERE event_id = $1 AND published_at IS NOT NULL",
        event_id,
    )
    return result.endswith(" 1")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: uuid.UUID
    topic: str
    key: str
    payload: bytes
    """The event's envelope as JSON, ready to send."""
    headers: dict[str, str]


Publish = Callable[[OutboxRow], Awaitable[Awaitable[object] | None]]
"""Sends one row. Returns None once the broker has acknowledged it, or an awaitable of the
acknowledgement: the relay then sends the next rows before waiting for it (pipelining)."""


class OutboxRelay:
    def __init__(
        self,
        *,
        database_url: str,
        pool: asyncpg.Pool,
        schema: str,
        publish: Publish,
        poll_interval: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self._url = database_url
        self._pool = pool
        self._schema = schema
        self._publish = publish
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._backlog_measured_at = 0.0
        self.is_leader = False

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Relay until stopped; survives database and broker outages by retrying."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                await self._lead_and_relay()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive any outage
                log.warning(
                    "outbox relay interrupted; retrying",
                    extra={"error": type(exc).__name__, "retry_in_s": backoff},
                )
                self._wake.clear()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _lead_and_relay(self) -> None:
        listener = await db.connect(self._url)
        channel = f"{self._schema}_outbox"
        try:
            while not self._stopping.is_set():
                self.is_leader = await listener.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))", f"outbox:{self._schema}"
                )
                if self.is_leader:
                    break
                self._wake.clear()
                await self._sleep(self._poll_interval)
            await listener.add_listener(channel, self._on_notify)
            while not self._stopping.is_set():
                # Cleared before draining, so that a commit during the drain wakes us again.
                self._wake.clear()
                await self._drain()
                if time.monotonic() - self._backlog_measured_at >= BACKLOG_EVERY_SECONDS:
                    await self._record_backlog()
                    self._backlog_measured_at = time.monotonic()
                await self._sleep(self._poll_interval)
                if listener.is_closed():
                    raise ConnectionError("outbox listener connection closed")
        finally:
            self.is_leader = False
            if not listener.is_closed():
                await listener.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _drain(self) -> None:
        """Publish unpublished rows in id order, a batch at a time: every row of a batch is
        sent before any acknowledgement is awaited, then the acknowledgements are awaited
        together and the rows the broker acknowledged are marked published, in the same
        transaction that locked them. Rows whose publishing failed stay unpublished and are
        sent again (consumers drop duplicates through their inboxes)."""
        while not self._stopping.is_set():
            async with self._pool.acquire() as conn, conn.transaction():
                # Marking rows published need not wait for the disk: if the database loses
                # this commit, the rows are sent again and the consumers' inboxes drop
                # them. The relay's next drain starts an fsync sooner (docs/performance.md).
                await conn.execute("SET LOCAL synchronous_commit = off")
                rows = await conn.fetch(
                    """SELECT id, event_id, topic, key, payload::text AS payload, headers
                       FROM outbox WHERE published_at IS NULL ORDER BY id
                       LIMIT $1 FOR UPDATE SKIP LOCKED""",
                    self._batch_size,
                )
                published, error = await self._publish_all(rows)
                if published:
                    await conn.execute(
                        "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                        published,
                    )
            OUTBOX_PUBLISHED.labels(self._schema).inc(len(published))
            if error is not None:
                raise error
            if len(rows) < self._batch_size:
                return

    async def _publish_all(self, rows: list[asyncpg.Record]) -> tuple[list[int], Exception | None]:
        """Send ``rows`` in order, then wait for their acknowledgements as a group: the ids
        acknowledged, and the first error, if any (nothing after a send that failed is sent)."""
        acknowledged: list[int] = []
        pending: dict[asyncio.Future[object], int] = {}
        error: Exception | None = None
        for row in rows:
            outgoing = OutboxRow(
                id=row["id"],
                event_id=row["event_id"],
                topic=row["topic"],
                key=row["key"],
                payload=row["payload"].encode(),
                headers=row["headers"],
            )
            # Publish in the trace of the request that caused the event, so that one
            # referral's work is one trace however late the relay sends it.
            token = context.attach(propagate.extract(outgoing.headers))
            try:
                ack = await asyncio.wait_for(self._publish(outgoing), timeout=PUBLISH_TIMEOUT)
            except Exception as exc:  # the broker refused or did not answer: stop here
                error = exc
                break
            finally:
                context.detach(token)
            if ack is None:
                acknowledged.append(row["id"])
            else:
                pending[asyncio.ensure_future(ack)] = row["id"]
        if pending:
            done, not_done = await asyncio.wait(pending, timeout=PUBLISH_TIMEOUT)
            for future in not_done:
                future.cancel()
                error = error or TimeoutError("the broker did not acknowledge in time")
            for future in done:
                failure = future.exception()
                if failure is None:
                    acknowledged.append(pending[future])
                elif isinstance(failure, Exception):
                    error = error or failure
        return sorted(acknowledged), error

    async def _record_backlog(self) -> None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT count(*) AS n,
                          coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                   FROM outbox WHERE published_at IS NULL"""
            )
        assert row is not None
        OUTBOX_BACKLOG.labels(self._schema).set(row["n"])
        OUTBOX_OLDEST_SECONDS.labels(self._schema).set(float(row["age"]))
