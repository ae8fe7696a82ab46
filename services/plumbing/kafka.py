"""Kafka through FastStream: one broker factory and one consumer wrapper for every service.

The wrapper fixes the pitfalls of FastStream's defaults (reference/tech-anchors.md §1.3) and
adds the retry and dead-letter topics FastStream does not have for Kafka:

- offsets are committed by hand, only after the handler's transaction has committed, and a
  new consumer group starts from the earliest offset;
- a message that cannot be decoded or validated goes to ``<topic>.dlt`` at once, with its
  original topic, partition, offset, the error and the attempt count in ``error.*`` headers;
- while the database is unreachable a message is retried in place with backoff: every
  message would fail the same way, so there is nothing to skip to;
- any other failure sends the message through ``<topic>.retry.1`` to ``.retry.3``, each
  consumed after a longer delay, and then to the dead-letter topic. The partition moves on at
  once, so a poison message never blocks it.

A consumer may take its messages in batches (``max_batch`` > 1; the router does): each
batch is read with one fetch, handed to the event type's batch handler (one transaction for
the whole batch), and its offsets are committed once, after that. If the batch handler fails
for any reason but the database being unreachable, every event of the batch is handled on
its own, with the retry and dead-letter rules above, so that one poison message neither
blocks nor fails the others. A batch is never committed in part: if the consumer stops
before the batch is done, its partitions are rewound to the batch's first offsets.

A handler filed as ``Apply`` runs in the consumer's unit of work
(``services.plumbing.unit_of_work``): the plumbing opens the transaction, applies the inbox,
hands the handler the event and a connection, writes the events it returns through the
outbox caused by the consumed event, and commits; the offset is committed after that.

``subscribe`` makes a ``Consumer``, whose steps (decode, apply, apply a batch, the one
"database down, back off" loop, settle a failure) are methods that can be read and tested
one by one (tests/unit/test_consumer_steps.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.topics import (
    PRODUCER_MAX_REQUEST_BYTES,
    RETRY_TIERS,
    dead_letter_for,
    retry_topic,
    retry_topics_for,
)
from services.plumbing import (
    consumer_lag,
    kafka_batches,
    kafka_connections,
    kafka_metadata,
    kafka_records,
    strict_json,
    telemetry,
)
from services.plumbing.db import CONNECTION_ERRORS
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from services.plumbing.settings import ServiceSettings
from services.plumbing.unit_of_work import Apply, UnitOfWork

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[ModelT], Awaitable[None]]
MessageHandler = Callable[[KafkaMessage], Awaitable[None]]

BATCH_WAIT_MS = 500
"""How long a batch consumer waits for the first record of a batch before asking again. It
is woken by the record itself (``kafka_batches``), so this adds no latency: it only sets
how often an idle consumer wakes (it was 5 ms, a hundred polls a second, when FastStream
slept as long again after each empty poll)."""
RETRY_FETCH_MAX_WAIT_MS = 1_000
"""Retry topics are read after delays of seconds; their consumers long-poll for longer,
which saves the broker a fetch request every few milliseconds per consumer when idle."""

kafka_metadata.never_ask_brokers_to_create_topics()
kafka_batches.wait_for_records_in_batches()
kafka_records.tolerate_header_names_that_are_not_utf8()
kafka_connections.broken_transports_are_connection_errors()

_STOPPING: weakref.WeakKeyDictionary[KafkaBroker, asyncio.Event] = weakref.WeakKeyDictionary()


def stopping(broker: KafkaBroker) -> asyncio.Event:
    """Set when the service begins to stop: a retry waiting for its delay, or for the
    database, gives up at once and is read again after the restart (its offset was not
    committed)."""
    return _STOPPING.setdefault(broker, asyncio.Event())


H_CONSUMER = "retry.consumer"
H_ATTEMPT = "retry.attempt"
H_NOT_BEFORE = "retry.not_before_ms"
H_ORIGIN_TOPIC = "retry.origin_topic"
H_ORIGIN_PARTITION = "retry.origin_partition"
H_ORIGIN_OFFSET = "retry.origin_offset"


class UnexpectedEventType(ValueError):
    pass


PRODUCER_OPTIONS: dict[str, Any] = {
    # Idempotent: a retried send after a lost acknowledgement is not written twice.
    "acks": "all",
    "enable_idempotence": True,
    "max_request_size": PRODUCER_MAX_REQUEST_BYTES,
    # A relay's drain (up to 500 events) fits in one produce request instead of one per
    # 16 KiB a partition (aiokafka's default); under every topic's limit (issue 18).
    "max_batch_size": 256 * 1024,
}
"""How every producer of the hub's sends (FastStream's, for retry and dead-letter records,
and each outbox relay's own), in aiokafka's keyword arguments."""


def make_broker(
    settings: ServiceSettings, client_id: str, tracer_provider: TracerProvider | None = None
) -> KafkaBroker:
    middlewares = (
        (KafkaTelemetryMiddleware(tracer_provider=tracer_provider),) if tracer_provider else ()
    )
    access = KafkaAccess.of(settings)
    return KafkaBroker(
        # A list: FastStream takes a string as one server, so "kafka-1:9092,kafka-2:9092"
        # (what aiokafka itself splits) would be one unresolvable host name.
        [server.strip() for server in access.bootstrap_servers.split(",") if server.strip()],
        security=access.faststream_security(),
        middlewares=middlewares,
        client_id=client_id,
        **PRODUCER_OPTIONS,
        allow_auto_create_topics=False,
        ack_policy=AckPolicy.MANUAL,
        graceful_timeout=10.0,
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
    )


@dataclass(frozen=True)
class Delivered(Generic[ModelT]):
    """One event of a batch, with the trace it arrived in."""

    event: ModelT
    headers: Mapping[str, Any]
    topic: str

    @contextlib.contextmanager
    def traced(self) -> Iterator[None]:
        """The span of handling this event, in the trace it arrived with (a batch's own span
        belongs to no referral's trace): what is published meanwhile stays in that trace."""
        subject = str(getattr(self.event, "subject", ""))
        with telemetry.continue_trace(
            {k: str(v) for k, v in self.headers.items()}, f"{self.topic} process", subject
        ):
            yield


BatchHandler = Callable[[list[Delivered[ModelT]]], Awaitable[None]]


@dataclass(frozen=True)
class On(Generic[ModelT]):
    """How to handle one event type: the model its value must validate as, and the handler.
    ``handle_batch``, when given, applies several events of the type in one transaction
    (with the same idempotency as ``handle``); a consumer with ``max_batch`` > 1 uses it."""

    model: type[ModelT]
    handle: Handler[ModelT]
    handle_batch: BatchHandler[ModelT] | None = None


class _Head(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)
    type: str


@dataclass(frozen=True)
class _Origin:
    """Where a message first arrived, whichever retry topic it is on now."""

    topic: str
    partition: int
    offset: int


def _header(msg: KafkaMessage, name: str) -> str | None:
    value = (msg.headers or {}).get(name)
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class _Received:
    """One consumed message: what the retry and dead-letter topics need of it. Its headers
    are as the record carried them (``kafka_records.Header``), whatever their bytes."""

    body: bytes
    key: bytes | None
    raw_headers: tuple[kafka_records.Header, ...]
    origin: _Origin

    @property
    def headers(self) -> dict[str, str]:
        return kafka_records.text_headers(self.raw_headers)

    @classmethod
    def of(cls, msg: KafkaMessage, origin: _Origin | None = None) -> _Received:
        record = msg.raw_message
        assert not isinstance(record, tuple)
        return cls(
            msg.body,
            record.key,
            tuple(record.headers or ()),
            origin or _Origin(record.topic, record.partition, record.offset),
        )

    @classmethod
    def of_record(cls, record: Any) -> _Received:
        return cls(
            record.value or b"",
            record.key,
            tuple(record.headers or ()),
            _Origin(record.topic, record.partition, record.offset),
        )


@dataclass
class _Decoded:
    received: _Received
    on: On[Any]
    event: Any

    def delivered(self) -> Delivered[Any]:
        return Delivered(self.event, self.received.headers, self.received.origin.topic)


UNDECODABLE = (
    kafka_records.NotDecodable,
    ValidationError,
    UnexpectedEventType,
    strict_json.DuplicateMembers,
    strict_json.NotJson,
)
"""What makes a message a dead letter at once: retrying it could never help."""


def decode_record(
    received: _Received, handlers: Mapping[str, On[Any]], topic: str
) -> tuple[On[Any], Any]:
    """The handling and the event of one record, read layer by layer: its headers and key as
    text (``kafka_records.check_text``), its value as one strict JSON document, the
    envelope's type among ``handlers`` and the event as that type's model. Raises one of
    ``UNDECODABLE`` (and nothing else) when a layer cannot be read: ``describe`` says which,
    without the record's content."""
    kafka_records.check_text(received.key, received.raw_headers)
    on = handlers.get(_Head.model_validate_json(received.body).type)
    # An envelope whose meaning depends on the parser (a member named twice) is as bad
    # as one that does not validate: dead-lettered, never guessed at.
    strict_json.check(received.body)
    if on is None:
        raise UnexpectedEventType(f"unexpected event type on {topic}")
    return on, on.model.model_validate_json(received.body)


def subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    handlers: Mapping[str, On[Any] | Apply[Any]],
    settings: ServiceSettings,
    max_batch: int = 1,
    fetch_max_wait_ms: int | None = None,
    unit_of_work: UnitOfWork | None = None,
) -> None:
    """Consume ``topic`` (and its retry topics) as ``group_id``, handing each event to the
    handler for its type; with ``max_batch`` > 1, up to that many at a time to the type's
    batch handler (see the module's description). ``fetch_max_wait_ms`` overrides the
    setting for a topic whose events can wait (each idle consumer asks the broker for data
    once per wait, and the broker answers no sooner than it has to).

    An ``Apply`` handler runs in ``unit_of_work`` (``services.plumbing.unit_of_work``: the
    transaction, the inbox and the outbox are the wrapper's, and the offset is committed
    after the transaction). An ``On`` handler does all that itself, and must be idempotent:
    a message is redelivered if the process dies between the handler's commit and the
    offset commit, and re-driven events arrive again on purpose (see ``outbox.redrive``).
    Raises ``TypeError`` for an ``Apply`` handler without a ``unit_of_work``.
    """
    Subscription(topic, group_id, handlers, unit_of_work, max_batch, fetch_max_wait_ms).register(
        broker, settings
    )


@dataclass(frozen=True)
class Subscription:
    """``subscribe``'s arguments for one consumer group but the broker and the settings,
    which all of a service's subscriptions share: a service lists its subscriptions as a
    table (``entrypoints/consumers.subscriptions``) and hands it to ``subscribe_all``; the
    tests apply an event through the same table without a broker
    (``tests/support/consuming.py``)."""

    topic: str
    group_id: str
    handlers: Mapping[str, On[Any] | Apply[Any]]
    unit_of_work: UnitOfWork | None = None
    max_batch: int = 1
    fetch_max_wait_ms: int | None = None

    def register(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        """Start consuming as ``subscribe`` describes."""
        handlers = in_unit_of_work(self.handlers, self.topic, self.unit_of_work)
        Consumer(broker, self.topic, self.group_id, handlers, settings).register(
            self.max_batch, self.fetch_max_wait_ms
        )


def subscribe_all(
    broker: KafkaBroker, settings: ServiceSettings, subscriptions: Iterable[Subscription]
) -> None:
    """``subscribe`` each of ``subscriptions``."""
    for each in subscriptions:
        each.register(broker, settings)


def in_unit_of_work(
    handlers: Mapping[str, On[Any] | Apply[Any]], topic: str, unit_of_work: UnitOfWork | None
) -> dict[str, On[Any]]:
    """``handlers`` as the consumer calls them: each ``Apply`` bound to ``unit_of_work``
    (one ``On`` for all the types one ``Apply`` handles, as given)."""
    bound: dict[int, On[Any]] = {}
    table: dict[str, On[Any]] = {}
    for kind, spec in handlers.items():
        if isinstance(spec, On):
            table[kind] = spec
            continue
        if unit_of_work is None:
            raise TypeError(f"{kind} is applied in a unit of work, and none was given")
        if id(spec) not in bound:
            handle, handle_batch = unit_of_work.bind(topic, spec)
            bound[id(spec)] = On(spec.model, handle, handle_batch)
        table[kind] = bound[id(spec)]
    return table


class _Stopping:
    """The service began to stop before the work was done: its offset stays uncommitted."""


STOPPING = _Stopping()


# Compared and shown as an object, as before: its settings hold the database URL.
@dataclass(eq=False, repr=False)
class Consumer:
    """One topic's consumer group: each step of handling what it reads is a method.

    ``process`` (one record) and ``process_batch`` (a fetched batch) decode each record
    (``decode_record``; dead-lettering what cannot be read) and ``apply`` it, or
    ``apply_batch`` a run of one type. Both run the handler through ``patiently``, which
    retries in place while the database is unreachable; any other failure sends the record
    through the retry topics (``settle_failure``). Each returns False when the service
    stopped before the work was done. ``register`` attaches the FastStream subscribers."""

    broker: KafkaBroker
    topic: str
    group_id: str
    handlers: Mapping[str, On[Any]]
    settings: ServiceSettings

    def decode(self, received: _Received) -> tuple[On[Any], Any]:
        return decode_record(received, self.handlers, self.topic)

    async def patiently(self, work: Callable[[], Awaitable[None]]) -> Exception | _Stopping | None:
        """Run ``work``; while the database is unreachable every message would fail the
        same way, so it is retried in place, backing off (doubling to 30 s). None once
        done, ``STOPPING`` if the service stops meanwhile, or the other error it raised."""
        backoff = self.settings.consumer_retry_base_seconds
        while True:
            try:
                await work()
                return None
            except CONNECTION_ERRORS as exc:
                if not await _wait_for_database(
                    self.broker, self.topic, self.group_id, exc, backoff
                ):
                    return STOPPING
                backoff = min(backoff * 2, 30.0)
            except Exception as exc:  # classified by the caller
                return exc

    async def apply(self, on: On[Any], event: Any, received: _Received, attempt: int) -> bool:
        """Handle one event: True when it is done with (applied, sent to a retry topic or
        dead-lettered), False when the service is stopping before it could be."""
        telemetry.tag_referral(event.subject)
        failure = await self.patiently(lambda: on.handle(event))
        if failure is None:
            EVENTS_CONSUMED.labels(self.topic, self.group_id, "applied").inc()
            return True
        if isinstance(failure, _Stopping):
            return False
        await self.settle_failure(received, failure, attempt)
        return True

    async def settle_failure(self, received: _Received, exc: Exception, attempt: int) -> None:
        """A failure we cannot classify: the next retry topic, or after the last, the DLT."""
        log.error(
            "handler failed",
            extra={"topic": self.topic, "attempt": attempt, "error": type(exc).__name__},
            exc_info=exc,
        )
        if attempt <= RETRY_TIERS:
            await _schedule_retry(
                self.broker,
                received,
                self.group_id,
                attempt,
                exc,
                self.settings.consumer_retry_delays_seconds[attempt - 1],
            )
        else:
            await dead_letter(self.broker, received, self.group_id, exc, attempts=attempt)

    async def process(self, received: _Received, attempt: int) -> bool:
        # One consumer task handles message after message: forget the last one's referral.
        telemetry.current_referral.set(None)
        try:
            on, event = self.decode(received)
        except UNDECODABLE as exc:
            await dead_letter(self.broker, received, self.group_id, exc, attempts=attempt)
            return True
        return await self.apply(on, event, received, attempt)

    async def apply_batch(self, on: On[Any], run: list[_Decoded]) -> bool:
        """Events of one type, in the order they were read, in one go; each on its own if
        that fails (a poison message among them)."""
        handle_batch = on.handle_batch
        assert handle_batch is not None
        failure = await self.patiently(lambda: handle_batch([item.delivered() for item in run]))
        if failure is None:
            EVENTS_CONSUMED.labels(self.topic, self.group_id, "applied").inc(len(run))
            return True
        if isinstance(failure, _Stopping):
            return False
        log.warning(
            "batch failed; handling its events one by one",
            extra={"topic": self.topic, "events": len(run), "error": type(failure).__name__},
        )
        for item in run:
            with item.delivered().traced():
                if not await self.apply(item.on, item.event, item.received, attempt=1):
                    return False
        return True

    async def decode_batch(self, records: tuple[Any, ...]) -> list[_Decoded]:
        """The batch's events in order; what cannot be read is dead-lettered meanwhile."""
        decoded: list[_Decoded] = []
        for record in records:
            received = _Received.of_record(record)
            try:
                on, event = self.decode(received)
            except UNDECODABLE as exc:
                await dead_letter(self.broker, received, self.group_id, exc, attempts=1)
                continue
            decoded.append(_Decoded(received, on, event))
        return decoded

    async def process_batch(self, records: tuple[Any, ...]) -> bool:
        telemetry.current_referral.set(None)
        decoded = await self.decode_batch(records)
        # Consecutive events of one type with a batch handler go together; order is kept.
        for run in runs_of_one_type(decoded):
            on = run[0].on
            if on.handle_batch is not None:
                done = await self.apply_batch(on, run)
            else:
                item = run[0]
                done = await self.apply(item.on, item.event, item.received, attempt=1)
            if not done:
                return False
        return True

    def subscriber(
        self, *topics: str, group: str, batch: int = 1, fetch_max_wait_ms: int | None = None
    ) -> Callable[[MessageHandler], object]:
        options: dict[str, Any] = (
            {"batch": True, "max_records": batch, "batch_timeout_ms": BATCH_WAIT_MS}
            if batch > 1
            else {}
        )
        decorator: Callable[[MessageHandler], object] = self.broker.subscriber(
            *topics,
            # Every record reaches the wrapper, whatever its headers' bytes: one that cannot
            # be read is dead-lettered there, the rest of its batch handled.
            parser=kafka_records.parse_batch if batch > 1 else kafka_records.parse_record,
            decoder=kafka_records.raw_body,
            group_id=group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            fetch_max_wait_ms=fetch_max_wait_ms or self.settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            **options,
        )
        return decorator

    async def consume_batch(self, msg: KafkaMessage) -> None:
        records = msg.raw_message
        assert isinstance(records, tuple)
        if not records:
            return
        try:
            done = await self.process_batch(records)
        except BaseException:
            await msg.nack()  # e.g. the broker refused a dead letter: read it all again
            raise
        if done:
            await msg.ack()
        else:
            # Stopping: read the whole batch again after the restart, and make sure no
            # later commit passes over it meanwhile.
            await msg.nack()

    async def consume(self, msg: KafkaMessage) -> None:
        if await self.process(_Received.of(msg), attempt=1):
            await msg.ack()

    async def consume_retry(self, msg: KafkaMessage) -> None:
        if _header(msg, H_CONSUMER) != self.group_id:
            await msg.ack()  # another consumer group's retry
            return
        wait = (int(_header(msg, H_NOT_BEFORE) or 0) / 1000) - time.time()
        if wait > 0:
            try:
                await asyncio.wait_for(stopping(self.broker).wait(), timeout=wait)
                return  # stopping: not acked, read again after the restart
            except TimeoutError:
                pass
        origin = _Origin(
            _header(msg, H_ORIGIN_TOPIC) or self.topic,
            int(_header(msg, H_ORIGIN_PARTITION) or -1),
            int(_header(msg, H_ORIGIN_OFFSET) or -1),
        )
        attempt = int(_header(msg, H_ATTEMPT) or RETRY_TIERS) + 1
        if await self.process(_Received.of(msg, origin), attempt=attempt):
            await msg.ack()

    def register(self, max_batch: int, fetch_max_wait_ms: int | None) -> None:
        """Attach the topic's subscriber (batched when ``max_batch`` > 1) and its retry
        topics' to the broker, and start watching the group's lag."""
        consumer_lag.watch(self.broker, self.group_id, (self.topic,))
        DEAD_LETTERS.labels(self.topic)  # from 0, so that the first dead letter is an increase

        # FastStream reads each handler's signature: give it plain functions.
        async def consume_batch(msg: KafkaMessage) -> None:
            await self.consume_batch(msg)

        async def consume(msg: KafkaMessage) -> None:
            await self.consume(msg)

        async def consume_retry(msg: KafkaMessage) -> None:
            await self.consume_retry(msg)

        if max_batch > 1:
            self.subscriber(
                self.topic,
                group=self.group_id,
                batch=max_batch,
                fetch_max_wait_ms=fetch_max_wait_ms,
            )(consume_batch)
        else:
            self.subscriber(self.topic, group=self.group_id, fetch_max_wait_ms=fetch_max_wait_ms)(
                consume
            )
        self.subscriber(
            *retry_topics_for(self.topic),
            group=f"{self.group_id}.retry",
            fetch_max_wait_ms=max(
                fetch_max_wait_ms or self.settings.kafka_fetch_max_wait_ms,
                RETRY_FETCH_MAX_WAIT_MS,
            ),
        )(consume_retry)


def runs_of_one_type(decoded: list[_Decoded]) -> list[list[_Decoded]]:
    """``decoded`` cut into runs, in order: consecutive events of one type whose handling has
    a batch handler go together; every other event is a run of its own."""
    runs: list[list[_Decoded]] = []
    for item in decoded:
        if runs and item.on.handle_batch is not None and runs[-1][-1].on is item.on:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


async def _wait_for_database(
    broker: KafkaBroker, topic: str, consumer: str, exc: BaseException, backoff: float
) -> bool:
    """While the database is unreachable every message would fail the same way, so the one
    in hand is retried in place. False when the service is stopping meanwhile."""
    EVENTS_CONSUMED.labels(topic, consumer, "waiting_for_database").inc()
    log.warning(
        "database unreachable; will retry the message",
        extra={"topic": topic, "error": type(exc).__name__, "retry_in_s": backoff},
    )
    await asyncio.sleep(backoff)
    return not stopping(broker).is_set()


async def _republish(
    broker: KafkaBroker, received: _Received, topic: str, headers: dict[str, str]
) -> None:
    """The received record again, on ``topic`` (a retry or dead-letter topic): its own
    headers byte for byte, without an earlier attempt's, plus ``headers``."""
    republished = kafka_records.republished(
        {k: v for k, v in received.headers.items() if not k.startswith(("error.", "retry."))}
    )
    republished.update(headers)
    await broker.publish(
        received.body,
        topic=topic,
        key=received.key,
        headers=republished,
        correlation_id=str(uuid.uuid4()),
    )


async def _schedule_retry(
    broker: KafkaBroker,
    received: _Received,
    consumer: str,
    attempt: int,
    exc: Exception,
    delay: float,
) -> None:
    origin = received.origin
    await _republish(
        broker,
        received,
        retry_topic(origin.topic, attempt),
        {
            H_CONSUMER: consumer,
            H_ATTEMPT: str(attempt),
            H_NOT_BEFORE: str(int((time.time() + delay) * 1000)),
            H_ORIGIN_TOPIC: origin.topic,
            H_ORIGIN_PARTITION: str(origin.partition),
            H_ORIGIN_OFFSET: str(origin.offset),
            "error.type": type(exc).__name__,
        },
    )
    EVENTS_CONSUMED.labels(origin.topic, consumer, "retry_scheduled").inc()


def describe(exc: Exception) -> str:
    """An error description that cannot carry the message's content: the error's kind and
    the paths of the fields it concerns."""
    if isinstance(exc, ValidationError):
        if any(err["type"] in {"json_invalid", "json_type"} for err in exc.errors()):
            return "not valid JSON"
        fields = sorted({".".join(str(p) for p in err["loc"]) or "(root)" for err in exc.errors()})
        return f"invalid fields: {', '.join(fields)}"[:500]
    if isinstance(
        exc, UnexpectedEventType | strict_json.DuplicateMembers | kafka_records.NotDecodable
    ):
        return str(exc)[:500]
    if isinstance(exc, strict_json.NotJson):
        return "not valid JSON"
    return type(exc).__name__


async def dead_letter(
    broker: KafkaBroker,
    received: _Received,
    consumer: str,
    exc: Exception,
    *,
    attempts: int,
) -> None:
    origin = received.origin
    await _republish(
        broker,
        received,
        dead_letter_for(origin.topic),
        {
            "error.topic": origin.topic,
            "error.partition": str(origin.partition),
            "error.offset": str(origin.offset),
            "error.consumer": consumer,
            "error.type": type(exc).__name__,
            "error.message": describe(exc),
            "error.attempts": str(attempts),
            "error.at": datetime.now(UTC).isoformat(),
        },
    )
    DEAD_LETTERS.labels(origin.topic).inc()
    EVENTS_CONSUMED.labels(origin.topic, consumer, "dead_lettered").inc()
    log.error(
        "message dead-lettered",
        extra={
            "topic": origin.topic,
            "partition": origin.partition,
            "offset": origin.offset,
            "error": type(exc).__name__,
        },
    )
