"""Transactional outbox: ``add`` inside the caller's transaction, ``OutboxRelay`` publishes.

Only one relay per schema publishes at a time (a session advisory lock elects it), so that
events leave in the order they were written; the others stand by. The relay is woken by
LISTEN/NOTIFY when a transaction with outbox rows commits, and polls as a fallback in case
a notification is missed (a listener that is reconnecting hears nothing).

An event the broker could never take (over its ``message.max.bytes``) is refused by ``add``
(``EventTooLarge``: an HTTP request that would cause one is answered 413, naming its largest
fields). Should such a row be in an outbox all the same (written before the limit, or the
broker's limit lowered), the relay sets it aside in ``outbox_set_aside`` with its error,
instead of retrying it forever in front of every later event: ``hub_outbox_set_aside_total``
counts them and ``HubOutboxSetAside`` alerts (docs/runbook.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from opentelemetry import propagate, trace

from schemas.topics import EVENT_MAX_BYTES
from services.plumbing import db
from services.plumbing.db import Connection
from services.plumbing.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_SECONDS,
    OUTBOX_PUBLISHED,
    OUTBOX_SET_ASIDE,
)

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 15.0
"""Seconds to wait for the broker to acknowledge a batch of events before treating it as
down."""
DRAIN_BATCH = 500
"""Outbox rows read and sent at a time by a relay; their acknowledgements are awaited
together (docs/performance.md, issue 18)."""
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


MAX_FIELDS_NAMED = 5
LARGE_SHARE = 8
"""A field is named as making an event too large when it holds at least an eighth of the
limit and none of its own members does."""


class EventTooLarge(ValueError):
    """An event whose envelope (JSON, UTF-8) is over ``limit`` bytes: no broker of the hub's
    would take it. ``fields`` are the dotted paths, within the event's ``data``, of the members
    that make it so (at most ``MAX_FIELDS_NAMED``, largest first); ``size`` in bytes."""

    def __init__(self, size: int, limit: int, fields: list[str]) -> None:
        super().__init__(f"event of {size} bytes over the limit of {limit}: {', '.join(fields)}")
        self.size = size
        self.limit = limit
        self.fields = fields


def _encoded_size(value: Any) -> int:
    # ``json.dumps`` escapes non-ASCII text (6 bytes a character) where jsonb, which the
    # relay sends, writes UTF-8: the measure is never smaller than what is sent.
    return len(json.dumps(value, default=str))


def _large_fields(value: Any, path: tuple[str, ...], threshold: int) -> list[tuple[int, str]]:
    members: list[tuple[str, Any]] = (
        [(str(k), v) for k, v in value.items()]
        if isinstance(value, dict)
        else [(str(i), v) for i, v in enumerate(value)]
        if isinstance(value, list)
        else []
    )
    found = [
        field
        for name, member in members
        if _encoded_size(member) >= threshold
        for field in _large_fields(member, (*path, name), threshold)
    ]
    return found or ([(_encoded_size(value), ".".join(path) or "(data)")] if path else [])


def check_size(event: OutgoingEvent, limit: int | None = None) -> None:
    """Raise ``EventTooLarge`` if ``event``'s envelope is over ``limit`` bytes (by default
    ``request_limit``'s: what the outbox takes here and now). Whatever writes outbox rows
    without ``add`` calls it first."""
    limit = request_limit.get() if limit is None else limit
    size = _encoded_size(event.envelope)
    if size <= limit:
        return
    fields = _large_fields(event.envelope.get("data"), (), limit // LARGE_SHARE)
    named = [path for _, path in sorted(fields, reverse=True)[:MAX_FIELDS_NAMED]]
    raise EventTooLarge(size, limit, named or ["(data)"])


request_limit: contextvars.ContextVar[int] = contextvars.ContextVar(
    "outbox_request_limit", default=EVENT_MAX_BYTES
)
"""The largest event ``add`` takes here and now: ``EVENT_MAX_BYTES``, or while an HTTP request
is handled ``REQUEST_EVENT_MAX_BYTES`` (``services/plumbing/http.py``), which leaves room
for what later services add to the facts they pass on."""


_INSERT = """INSERT INTO outbox (event_id, topic, key, payload, headers, caused_by)
             VALUES ($1, $2, $3, $4, $5, $6)"""


async def add(
    conn: Connection, events: list[OutgoingEvent], *, caused_by: uuid.UUID | None = None
) -> None:
    """Write events to the outbox. Call inside the transaction that makes the change.
    ``caused_by`` is the id of the event being handled, if any: see ``redrive``."""
    await add_each(conn, [(e, caused_by) for e in events])


async def add_each(conn: Connection, events: list[tuple[OutgoingEvent, uuid.UUID | None]]) -> None:
    """``add`` for events handled together, each with the id of the event that caused it.
    Raises ``EventTooLarge`` (nothing written) for an event over ``request_limit``."""
    for event, _ in events:
        check_size(event)
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


NEVER_PUBLISHABLE: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
)
"""What the broker (or the producer, before sending) answers for a row it will never take,
however often it is sent: such a row is set aside, not retried."""

Publish = Callable[[OutboxRow], Awaitable[Awaitable[object] | None]]
"""Sends one row. Returns None once the broker has acknowledged it, or an awaitable of the
acknowledgement: the relay then sends the next rows before waiting for it (pipelining)."""

CONTENT_TYPE = "application/cloudevents+json"
"""The ``content-type`` header of every event the relay sends (structured CloudEvents)."""

_tracer = trace.get_tracer(__name__)


def _recorded(headers: dict[str, str]) -> bool:
    """Whether the trace in ``headers`` is recorded: the sampled flag of its W3C
    ``traceparent`` (``00-<trace id>-<span id>-<flags>``). A row without one (or with one
    that does not parse) starts a trace of its own, which may be."""
    parent = headers.get("traceparent", "")
    try:
        return bool(int(parent[-2:], 16) & 1) if len(parent) == 55 else True
    except ValueError:
        return True


async def _send(
    producer: AIOKafkaProducer, row: OutboxRow, headers: dict[str, str]
) -> Awaitable[object]:
    ack: Awaitable[object] = await producer.send(
        row.topic,
        value=row.payload,
        key=row.key.encode(),
        headers=[(name, value.encode()) for name, value in headers.items()],
    )
    return ack


def kafka_publisher(producer: Callable[[], AIOKafkaProducer]) -> Publish:
    """A ``Publish`` that hands each row straight to aiokafka's producer (``producer()``, the
    started one to use) and returns the acknowledgement's future unawaited.

    Each record carries the row's envelope unchanged as its value, the row's key, the row's
    headers (the trace of the change that wrote it), ``content-type`` and ``correlation_id``
    (the event id) as FastStream's own publishing did; when the row's trace is recorded, its
    ``traceparent`` names a producer span ``<topic> publish`` in that trace (the span the
    consumer's ``<topic> process`` continues). Going around FastStream's publish path (a
    command object, its middleware, two spans and a metric per record) saves most of the
    relay's CPU per event (docs/performance.md, issue 18). ``send`` raises what the producer
    refuses at once (``MessageSizeTooLargeError`` for a record over ``max_request_size``);
    the future fails with what the broker refuses."""

    async def publish(row: OutboxRow) -> Awaitable[object]:
        headers = {**row.headers, "content-type": CONTENT_TYPE, "correlation_id": str(row.event_id)}
        if not _recorded(row.headers):
            # Nobody records this trace (no exporter: ``telemetry.setup``), so a span would be
            # made and dropped for each event (tens of microseconds): the row's own trace
            # context goes on, and the consumer continues the same trace.
            return await _send(producer(), row, headers)
        span = _tracer.start_span(
            f"{row.topic} publish",
            context=propagate.extract(row.headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row.topic,
                "messaging.operation": "publish",
                "messaging.message.id": str(row.event_id),
            },
        )
        propagate.inject(headers, context=trace.set_span_in_context(span))
        try:
            return await _send(producer(), row, headers)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR)
            raise
        finally:
            span.end()

    return publish


@dataclass
class _Sent:
    """What became of a batch of rows the relay sent."""

    published: list[int] = field(default_factory=list)
    set_aside: list[tuple[int, str]] = field(default_factory=list)
    """Rows the broker can never take, with the name of the error."""
    error: Exception | None = None


async def _set_aside(conn: Connection, rows: list[tuple[int, str]]) -> None:
    """Move ``rows`` (id, error) from the outbox to ``outbox_set_aside``, where operations
    decide what becomes of them (docs/runbook.md, HubOutboxSetAside)."""
    await conn.execute(
        """WITH moved AS (
               DELETE FROM outbox o USING unnest($1::bigint[], $2::text[]) AS e(id, error)
               WHERE o.id = e.id
               RETURNING o.*, e.error
           )
           INSERT INTO outbox_set_aside
               (id, event_id, topic, key, payload, headers, caused_by, created_at, error)
           SELECT id, event_id, topic, key, payload, headers, caused_by, created_at, error
           FROM moved""",
        [row_id for row_id, _ in rows],
        [error for _, error in rows],
    )


class ProducerLife(Protocol):
    """The life of the producer behind a relay's ``Publish``, when the relay owns it
    (``services.plumbing.relay_producer.RelayProducer``): started before each lead, told of
    each drain the broker took and of each failure (it may renew itself), stopped with the
    relay."""

    async def start(self) -> None: ...

    def published(self) -> None: ...

    async def failed(self, error: BaseException) -> None: ...

    async def stop(self) -> None: ...


class OutboxRelay:
    def __init__(
        self,
        *,
        database_url: str,
        pool: asyncpg.Pool,
        schema: str,
        publish: Publish,
        producer: ProducerLife | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self._url = database_url
        self._pool = pool
        self._schema = schema
        self._publish = publish
        self._producer = producer
        self._poll_interval = poll_interval
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
        try:
            while not self._stopping.is_set():
                try:
                    if self._producer is not None:
                        await self._producer.start()
                    await self._lead_and_relay()
                    backoff = 0.2
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the loop must outlive any outage
                    log.warning(
                        "outbox relay interrupted; retrying",
                        extra={"error": type(exc).__name__, "retry_in_s": backoff},
                    )
                    if self._producer is not None:
                        await self._producer.failed(exc)
                    self._wake.clear()
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
        finally:
            if self._producer is not None:
                await self._producer.stop()

    async def _lead_and_relay(self) -> None:
        # One session holds the leadership (a session advisory lock), hears the NOTIFY and
        # drains: losing the session loses the leadership and the drain in hand together,
        # and a drain costs its two statements, not a pool's acquire, reset and transaction.
        leader = await db.connect(
            self._url,
            server_settings={
                "search_path": self._schema,
                "application_name": f"{self._schema} outbox relay",
                # Marking rows published need not wait for the disk: if the database loses
                # such a commit, the rows are sent again and the consumers' inboxes drop
                # them. The relay's next drain starts an fsync sooner (docs/performance.md).
                "synchronous_commit": "off",
            },
        )
        channel = f"{self._schema}_outbox"
        try:
            while not self._stopping.is_set():
                self.is_leader = await leader.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))", f"outbox:{self._schema}"
                )
                if self.is_leader:
                    break
                self._wake.clear()
                await self._sleep(self._poll_interval)
            await leader.add_listener(channel, self._on_notify)
            while not self._stopping.is_set():
                # Cleared before draining, so that a commit during the drain wakes us again.
                self._wake.clear()
                await self._drain(leader)
                if time.monotonic() - self._backlog_measured_at >= BACKLOG_EVERY_SECONDS:
                    await self._record_backlog()
                    self._backlog_measured_at = time.monotonic()
                await self._sleep(self._poll_interval)
                if leader.is_closed():
                    raise ConnectionError("outbox listener connection closed")
        finally:
            self.is_leader = False
            if not leader.is_closed():
                await leader.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _drain(self, leader: asyncpg.Connection) -> None:
        """Publish unpublished rows in id order, a batch at a time: every row of a batch is
        sent before any acknowledgement is awaited, then the acknowledgements are awaited
        together and the rows the broker acknowledged are marked published. Rows whose
        publishing failed stay unpublished and are sent again (consumers drop duplicates
        through their inboxes), except those the broker can never take
        (``NEVER_PUBLISHABLE``), which are set aside.

        No transaction and no row locks: only the leader drains, on the session that holds
        the leadership, so no other relay can take the same rows; a row written meanwhile
        has a higher id, and ``redrive`` of a row not yet marked has nothing to undo."""
        while not self._stopping.is_set():
            rows = await leader.fetch(
                """SELECT id, event_id, topic, key, payload::text AS payload, headers
                   FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1""",
                DRAIN_BATCH,
            )
            if not rows:
                return
            sent = await self._publish_all(rows)
            if sent.published:
                await leader.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                    sent.published,
                )
            if sent.set_aside:
                await _set_aside(leader, sent.set_aside)
            self._count(sent)
            if sent.error is not None:
                raise sent.error
            if self._producer is not None:
                self._producer.published()
            if len(rows) < DRAIN_BATCH:
                return

    def _count(self, sent: _Sent) -> None:
        OUTBOX_PUBLISHED.labels(self._schema).inc(len(sent.published))
        if sent.set_aside:
            OUTBOX_SET_ASIDE.labels(self._schema).inc(len(sent.set_aside))
            log.error(
                "outbox rows set aside: the broker can never take them",
                extra={
                    "schema": self._schema,
                    "rows": len(sent.set_aside),
                    "error": sorted({error for _, error in sent.set_aside}),
                },
            )

    async def _publish_all(self, rows: list[asyncpg.Record]) -> _Sent:
        """Send ``rows`` in order, then wait for their acknowledgements as a group: the ids
        acknowledged, those never publishable with their error's name, and the first other
        error, if any (nothing after a send that failed so is sent).

        The sends are awaited in turn without a task or a timer each: aiokafka's ``send``
        only appends the record to its batch for the partition (it waits only when that
        buffer is full or the topic's metadata is unknown), so every record of the drain is
        in the producer's batches before its sender task runs, and leaves in one produce
        request per broker. One deadline covers the sends, another the acknowledgements."""
        sent = _Sent()
        pending: dict[asyncio.Future[object], int] = {}
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                for row in rows:
                    try:
                        ack = await self._publish(
                            OutboxRow(
                                id=row["id"],
                                event_id=row["event_id"],
                                topic=row["topic"],
                                key=row["key"],
                                payload=row["payload"].encode(),
                                headers=row["headers"],
                            )
                        )
                    except NEVER_PUBLISHABLE as exc:
                        sent.set_aside.append((row["id"], type(exc).__name__))
                        continue
                    if ack is None:
                        sent.published.append(row["id"])
                    else:
                        pending[asyncio.ensure_future(ack)] = row["id"]
        except Exception as exc:  # the broker refused or did not answer: stop here
            sent.error = exc
        if pending:
            await self._acknowledged(pending, sent)
        sent.published.sort()
        return sent

    @staticmethod
    async def _acknowledged(pending: dict[asyncio.Future[object], int], sent: _Sent) -> None:
        done, not_done = await asyncio.wait(pending, timeout=PUBLISH_TIMEOUT)
        for future in not_done:
            future.cancel()
            sent.error = sent.error or TimeoutError("the broker did not acknowledge in time")
        for future in done:
            failure = future.exception()
            if failure is None:
                sent.published.append(pending[future])
            elif isinstance(failure, NEVER_PUBLISHABLE):
                sent.set_aside.append((pending[future], type(failure).__name__))
            elif isinstance(failure, Exception):
                sent.error = sent.error or failure

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
