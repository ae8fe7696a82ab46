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
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.topics import RETRY_TIERS, dead_letter_for, retry_topic, retry_topics_for
from services.plumbing import consumer_lag, telemetry
from services.plumbing.db import CONNECTION_ERRORS
from services.plumbing.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from services.plumbing.settings import ServiceSettings

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[ModelT], Awaitable[None]]
MessageHandler = Callable[[KafkaMessage], Awaitable[None]]

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
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        middlewares=middlewares,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        allow_auto_create_topics=False,
        ack_policy=AckPolicy.MANUAL,
        graceful_timeout=10.0,
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
    )


@dataclass(frozen=True)
class On(Generic[ModelT]):
    """How to handle one event type: the model its value must validate as, and the handler."""

    model: type[ModelT]
    handle: Handler[ModelT]


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


def subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    handlers: Mapping[str, On[Any]],
    settings: ServiceSettings,
) -> None:
    """Consume ``topic`` (and its retry topics) as ``group_id``, handing each event to the
    handler for its type.

    Handlers must be idempotent (see ``inbox.first_time``): a message is redelivered if the
    process dies between the handler's commit and the offset commit, and re-driven events
    arrive again on purpose (see ``outbox.redrive``).
    """

    async def process(msg: KafkaMessage, origin: _Origin, attempt: int) -> None:
        # One consumer task handles message after message: forget the last one's referral.
        telemetry.current_referral.set(None)
        try:
            on = handlers.get(_Head.model_validate_json(msg.body).type)
            if on is None:
                raise UnexpectedEventType(f"unexpected event type on {topic}")
            event = on.model.model_validate_json(msg.body)
        except (ValidationError, UnexpectedEventType) as exc:
            await dead_letter(broker, msg, group_id, exc, attempts=attempt, origin=origin)
            await msg.ack()
            return
        telemetry.tag_referral(event.subject)
        backoff = settings.consumer_retry_base_seconds
        while True:
            try:
                await on.handle(event)
                break
            except CONNECTION_ERRORS as exc:
                EVENTS_CONSUMED.labels(topic, group_id, "waiting_for_database").inc()
                log.warning(
                    "database unreachable; will retry the message",
                    extra={"topic": topic, "error": type(exc).__name__, "retry_in_s": backoff},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                if stopping(broker).is_set():
                    return  # not acked: read again after the restart
            except Exception as exc:  # a failure we cannot classify: retry topics, then DLT
                log.exception(
                    "handler failed",
                    extra={"topic": topic, "attempt": attempt, "error": type(exc).__name__},
                )
                if attempt <= RETRY_TIERS:
                    await _schedule_retry(
                        broker,
                        msg,
                        group_id,
                        origin,
                        attempt,
                        exc,
                        settings.consumer_retry_delays_seconds[attempt - 1],
                    )
                else:
                    await dead_letter(broker, msg, group_id, exc, attempts=attempt, origin=origin)
                await msg.ack()
                return
        await msg.ack()
        EVENTS_CONSUMED.labels(topic, group_id, "applied").inc()

    def subscriber(*topics: str, group: str) -> Callable[[MessageHandler], object]:
        decorator: Callable[[MessageHandler], object] = broker.subscriber(
            *topics,
            group_id=group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        )
        return decorator

    consumer_lag.watch(broker, group_id, (topic,))

    @subscriber(topic, group=group_id)
    async def consume(msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple)
        await process(msg, _Origin(record.topic, record.partition, record.offset), attempt=1)

    @subscriber(*retry_topics_for(topic), group=f"{group_id}.retry")
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
        await process(msg, origin, attempt=int(_header(msg, H_ATTEMPT) or RETRY_TIERS) + 1)


def _copied_headers(msg: KafkaMessage) -> dict[str, Any]:
    return {k: v for k, v in (msg.headers or {}).items() if not k.startswith(("error.", "retry."))}


async def _schedule_retry(
    broker: KafkaBroker,
    msg: KafkaMessage,
    consumer: str,
    origin: _Origin,
    attempt: int,
    exc: Exception,
    delay: float,
) -> None:
    record = msg.raw_message
    assert not isinstance(record, tuple)
    headers = _copied_headers(msg)
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
        msg.body,
        topic=retry_topic(origin.topic, attempt),
        key=record.key,
        headers=headers,
        correlation_id=str(uuid.uuid4()),
    )
    EVENTS_CONSUMED.labels(origin.topic, consumer, "retry_scheduled").inc()


def _describe(exc: Exception) -> str:
    """An error description that cannot carry the message's content."""
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in err["loc"]) or "(root)" for err in exc.errors()})
        return f"invalid fields: {', '.join(fields)}"[:500]
    if isinstance(exc, UnexpectedEventType):
        return str(exc)
    return type(exc).__name__


async def dead_letter(
    broker: KafkaBroker,
    msg: KafkaMessage,
    consumer: str,
    exc: Exception,
    *,
    attempts: int,
    origin: _Origin | None = None,
) -> None:
    record = msg.raw_message
    assert not isinstance(record, tuple)
    origin = origin or _Origin(record.topic, record.partition, record.offset)
    headers = _copied_headers(msg)
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
        msg.body,
        topic=dead_letter_for(origin.topic),
        key=record.key,
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
