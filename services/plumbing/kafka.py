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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.topics import RETRY_TIERS, dead_letter_for, retry_topic, retry_topics_for
from services.plumbing import consumer_lag, kafka_metadata, strict_json, telemetry
from services.plumbing.db import CONNECTION_ERRORS
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from services.plumbing.settings import ServiceSettings

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[ModelT], Awaitable[None]]
MessageHandler = Callable[[KafkaMessage], Awaitable[None]]

BATCH_WAIT_MS = 5
"""How long a batch consumer waits for the first record of a batch before polling again
(FastStream then sleeps as long again): small, so that batching adds no latency when idle."""
RETRY_FETCH_MAX_WAIT_MS = 1_000
"""Retry topics are read after delays of seconds; their consumers long-poll for longer,
which saves the broker a fetch request every few milliseconds per consumer when idle."""

kafka_metadata.never_ask_brokers_to_create_topics()

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
        # Idempotent: a retried send after a lost acknowledgement is not written twice.
        acks="all",
        enable_idempotence=True,
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
    """One consumed message: what the retry and dead-letter topics need of it."""

    body: bytes
    key: bytes | None
    headers: Mapping[str, Any]
    origin: _Origin

    @classmethod
    def of(cls, msg: KafkaMessage, origin: _Origin | None = None) -> _Received:
        record = msg.raw_message
        assert not isinstance(record, tuple)
        return cls(
            msg.body,
            record.key,
            msg.headers or {},
            origin or _Origin(record.topic, record.partition, record.offset),
        )

    @classmethod
    def of_record(cls, record: Any) -> _Received:
        return cls(
            record.value or b"",
            record.key,
            {name: value.decode(errors="replace") for name, value in record.headers or ()},
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
    ValidationError,
    UnexpectedEventType,
    strict_json.DuplicateMembers,
    strict_json.NotJson,
)
"""What makes a message a dead letter at once: retrying it could never help."""


def subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    handlers: Mapping[str, On[Any]],
    settings: ServiceSettings,
    max_batch: int = 1,
    fetch_max_wait_ms: int | None = None,
) -> None:
    """Consume ``topic`` (and its retry topics) as ``group_id``, handing each event to the
    handler for its type; with ``max_batch`` > 1, up to that many at a time to the type's
    batch handler (see the module's description). ``fetch_max_wait_ms`` overrides the
    setting for a topic whose events can wait (each idle consumer asks the broker for data
    once per wait, and the broker answers no sooner than it has to).

    Handlers must be idempotent (see ``inbox.first_time``): a message is redelivered if the
    process dies between the handler's commit and the offset commit, and re-driven events
    arrive again on purpose (see ``outbox.redrive``).
    """

    def decode(received: _Received) -> tuple[On[Any], Any]:
        on = handlers.get(_Head.model_validate_json(received.body).type)
        # An envelope whose meaning depends on the parser (a member named twice) is as bad
        # as one that does not validate: dead-lettered, never guessed at.
        strict_json.check(received.body)
        if on is None:
            raise UnexpectedEventType(f"unexpected event type on {topic}")
        return on, on.model.model_validate_json(received.body)

    async def apply(on: On[Any], event: Any, received: _Received, attempt: int) -> bool:
        """Handle one event: True when it is done with (applied, sent to a retry topic or
        dead-lettered), False when the service is stopping before it could be."""
        telemetry.tag_referral(event.subject)
        backoff = settings.consumer_retry_base_seconds
        while True:
            try:
                await on.handle(event)
                EVENTS_CONSUMED.labels(topic, group_id, "applied").inc()
                return True
            except CONNECTION_ERRORS as exc:
                if not await _wait_for_database(broker, topic, group_id, exc, backoff):
                    return False
                backoff = min(backoff * 2, 30.0)
            except Exception as exc:  # a failure we cannot classify: retry topics, then DLT
                log.exception(
                    "handler failed",
                    extra={"topic": topic, "attempt": attempt, "error": type(exc).__name__},
                )
                if attempt <= RETRY_TIERS:
                    await _schedule_retry(
                        broker,
                        received,
                        group_id,
                        attempt,
                        exc,
                        settings.consumer_retry_delays_seconds[attempt - 1],
                    )
                else:
                    await dead_letter(broker, received, group_id, exc, attempts=attempt)
                return True

    async def process(received: _Received, attempt: int) -> bool:
        # One consumer task handles message after message: forget the last one's referral.
        telemetry.current_referral.set(None)
        try:
            on, event = decode(received)
        except UNDECODABLE as exc:
            await dead_letter(broker, received, group_id, exc, attempts=attempt)
            return True
        return await apply(on, event, received, attempt)

    async def apply_batch(on: On[Any], run: list[_Decoded]) -> bool:
        """Events of one type, in the order they were read, in one go; each on its own if
        that fails (a poison message among them)."""
        assert on.handle_batch is not None
        backoff = settings.consumer_retry_base_seconds
        while True:
            try:
                await on.handle_batch([item.delivered() for item in run])
                EVENTS_CONSUMED.labels(topic, group_id, "applied").inc(len(run))
                return True
            except CONNECTION_ERRORS as exc:
                if not await _wait_for_database(broker, topic, group_id, exc, backoff):
                    return False
                backoff = min(backoff * 2, 30.0)
            except Exception as exc:
                log.warning(
                    "batch failed; handling its events one by one",
                    extra={"topic": topic, "events": len(run), "error": type(exc).__name__},
                )
                break
        for item in run:
            with item.delivered().traced():
                if not await apply(item.on, item.event, item.received, attempt=1):
                    return False
        return True

    async def process_batch(records: tuple[Any, ...]) -> bool:
        telemetry.current_referral.set(None)
        decoded: list[_Decoded] = []
        for record in records:
            received = _Received.of_record(record)
            try:
                on, event = decode(received)
            except UNDECODABLE as exc:
                await dead_letter(broker, received, group_id, exc, attempts=1)
                continue
            decoded.append(_Decoded(received, on, event))
        # Consecutive events of one type with a batch handler go together; order is kept.
        start = 0
        while start < len(decoded):
            on = decoded[start].on
            end = start + 1
            if on.handle_batch is not None:
                while end < len(decoded) and decoded[end].on is on:
                    end += 1
                done = await apply_batch(on, decoded[start:end])
            else:
                item = decoded[start]
                done = await apply(item.on, item.event, item.received, attempt=1)
            if not done:
                return False
            start = end
        return True

    def subscriber(
        *topics: str, group: str, batch: int = 1, fetch_max_wait_ms: int | None = None
    ) -> Callable[[MessageHandler], object]:
        options: dict[str, Any] = (
            {"batch": True, "max_records": batch, "batch_timeout_ms": BATCH_WAIT_MS}
            if batch > 1
            else {}
        )
        decorator: Callable[[MessageHandler], object] = broker.subscriber(
            *topics,
            group_id=group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            fetch_max_wait_ms=fetch_max_wait_ms or settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            **options,
        )
        return decorator

    consumer_lag.watch(broker, group_id, (topic,))
    DEAD_LETTERS.labels(topic)  # from 0, so that the first dead letter is an increase

    if max_batch > 1:

        @subscriber(topic, group=group_id, batch=max_batch, fetch_max_wait_ms=fetch_max_wait_ms)
        async def consume_batch(msg: KafkaMessage) -> None:
            records = msg.raw_message
            assert isinstance(records, tuple)
            if not records:
                return
            try:
                done = await process_batch(records)
            except BaseException:
                await msg.nack()  # e.g. the broker refused a dead letter: read it all again
                raise
            if done:
                await msg.ack()
            else:
                # Stopping: read the whole batch again after the restart, and make sure no
                # later commit passes over it meanwhile.
                await msg.nack()

    else:

        @subscriber(topic, group=group_id, fetch_max_wait_ms=fetch_max_wait_ms)
        async def consume(msg: KafkaMessage) -> None:
            if await process(_Received.of(msg), attempt=1):
                await msg.ack()

    @subscriber(
        *retry_topics_for(topic),
        group=f"{group_id}.retry",
        fetch_max_wait_ms=max(
            fetch_max_wait_ms or settings.kafka_fetch_max_wait_ms, RETRY_FETCH_MAX_WAIT_MS
        ),
    )
    async def consume_retry(msg: KafkaMessage) -> None:
        if _header(msg, H_CONSUMER) != group_id:
            await msg.ack()  # another consumer group's retry
            return
        wait = (int(_header(msg, H_NOT_BEFORE) or 0) / 1000) - time.time()
        if wait > 0:
            try:
                await asyncio.wait_for(stopping(broker).wait(), timeout=wait)
                return  # stopping: not acked, read again after the restart
            except TimeoutError:
                pass
        origin = _Origin(
            _header(msg, H_ORIGIN_TOPIC) or topic,
            int(_header(msg, H_ORIGIN_PARTITION) or -1),
            int(_header(msg, H_ORIGIN_OFFSET) or -1),
        )
        attempt = int(_header(msg, H_ATTEMPT) or RETRY_TIERS) + 1
        if await process(_Received.of(msg, origin), attempt=attempt):
            await msg.ack()


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


def _copied_headers(received: _Received) -> dict[str, Any]:
    return {k: v for k, v in received.headers.items() if not k.startswith(("error.", "retry."))}


async def _schedule_retry(
    broker: KafkaBroker,
    received: _Received,
    consumer: str,
    attempt: int,
    exc: Exception,
    delay: float,
) -> None:
    origin = received.origin
    headers = _copied_headers(received)
    headers.update(
        {
            H_CONSUMER: consumer,
            H_ATTEMPT: str(attempt),
            H_NOT_BEFORE: str(int((time.time() + delay) * 1000)),
            H_ORIGIN_TOPIC: origin.topic,
            H_ORIGIN_PARTITION: str(origin.partition),
            H_ORIGIN_OFFSET: str(origin.offset),
            "error.type": type(exc).__name__,
        }
    )
    await broker.publish(
        received.body,
        topic=retry_topic(origin.topic, attempt),
        key=received.key,
        headers=headers,
        correlation_id=str(uuid.uuid4()),
    )
    EVENTS_CONSUMED.labels(origin.topic, consumer, "retry_scheduled").inc()


def _describe(exc: Exception) -> str:
    """An error description that cannot carry the message's content."""
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in err["loc"]) or "(root)" for err in exc.errors()})
        return f"invalid fields: {', '.join(fields)}"[:500]
    if isinstance(exc, UnexpectedEventType | strict_json.DuplicateMembers):
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
    headers = _copied_headers(received)
    headers.update(
        {
            "error.topic": origin.topic,
            "error.partition": str(origin.partition),
            "error.offset": str(origin.offset),
            "error.consumer": consumer,
            "error.type": type(exc).__name__,
            "error.message": _describe(exc),
            "error.attempts": str(attempts),
            "error.at": datetime.now(UTC).isoformat(),
        }
    )
    await broker.publish(
        received.body,
        topic=dead_letter_for(origin.topic),
        key=received.key,
        headers=headers,
        correlation_id=str(uuid.uuid4()),
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
