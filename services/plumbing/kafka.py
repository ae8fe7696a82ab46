"""Kafka through FastStream: one broker factory and one consumer wrapper for every service.

The wrapper fixes the pitfalls of FastStream's defaults (reference/tech-anchors.md §1.3):
offsets are committed by hand, only after the handler's transaction has committed; a new
consumer group starts from the earliest offset; a message that cannot be decoded or
validated goes to ``<topic>.dlt`` at once with ``error.*`` headers and the consumer carries
on; while the database is unreachable the message is retried in place with backoff (every
message would fail the same way, so there is nothing to skip to); any other failure is
retried a bounded number of times and then dead-lettered, so that no message blocks its
partition for good.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.topics import dead_letter_for
from services.plumbing.db import CONNECTION_ERRORS
from services.plumbing.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from services.plumbing.settings import ServiceSettings

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[ModelT], Awaitable[None]]

MAX_ATTEMPTS = 5
"""Attempts at a message whose handler fails for a reason other than the database being down."""


class UnexpectedEventType(ValueError):
    pass


def make_broker(settings: ServiceSettings, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        allow_auto_create_topics=False,
        ack_policy=AckPolicy.MANUAL,
        graceful_timeout=15.0,
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


def subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    handlers: Mapping[str, On[Any]],
    settings: ServiceSettings,
) -> None:
    """Consume ``topic`` as ``group_id``, handing each event to the handler for its type.

    Handlers must be idempotent (see ``inbox.first_time``): a message is redelivered if the
    process dies between the handler's commit and the offset commit.
    """
    failures: dict[tuple[int, int], int] = {}

    @broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
    )
    async def consume(msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple)
        try:
            on = handlers.get(_Head.model_validate_json(msg.body).type)
            if on is None:
                raise UnexpectedEventType(f"unexpected event type on {topic}")
            event = on.model.model_validate_json(msg.body)
        except (ValidationError, UnexpectedEventType) as exc:
            await dead_letter(broker, msg, group_id, exc, attempts=1)
            await msg.ack()
            return
        handle = on.handle
        position = (record.partition, record.offset)
        try:
            await handle(event)
        except CONNECTION_ERRORS as exc:
            EVENTS_CONSUMED.labels(topic, group_id, "retried").inc()
            attempt = failures[position] = failures.get(position, 0) + 1
            delay = min(settings.consumer_retry_base_seconds * 2**attempt, 30.0)
            log.warning(
                "database unreachable; will retry the message",
                extra={"topic": topic, "error": type(exc).__name__, "retry_in_s": delay},
            )
            await asyncio.sleep(delay)
            await msg.nack()
            return
        except Exception as exc:  # a failure we cannot classify: bounded retries, then DLT
            attempt = failures[position] = failures.get(position, 0) + 1
            log.exception(
                "handler failed",
                extra={"topic": topic, "attempt": attempt, "error": type(exc).__name__},
            )
            if attempt >= MAX_ATTEMPTS:
                failures.pop(position, None)
                await dead_letter(broker, msg, group_id, exc, attempts=attempt)
                await msg.ack()
            else:
                EVENTS_CONSUMED.labels(topic, group_id, "retried").inc()
                await asyncio.sleep(min(settings.consumer_retry_base_seconds * 2**attempt, 5.0))
                await msg.nack()
            return
        failures.pop(position, None)
        await msg.ack()
        EVENTS_CONSUMED.labels(topic, group_id, "applied").inc()


def _describe(exc: Exception) -> str:
    """An error description that cannot carry the message's content."""
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in err["loc"]) or "(root)" for err in exc.errors()})
        return f"invalid fields: {', '.join(fields)}"[:500]
    if isinstance(exc, UnexpectedEventType):
        return str(exc)
    return type(exc).__name__


async def dead_letter(
    broker: KafkaBroker, msg: KafkaMessage, consumer: str, exc: Exception, *, attempts: int
) -> None:
    record = msg.raw_message
    assert not isinstance(record, tuple)
    headers: dict[str, Any] = {
        k: v for k, v in (msg.headers or {}).items() if not k.startswith("error.")
    }
    headers.update(
        {
            "error.topic": record.topic,
            "error.partition": str(record.partition),
            "error.offset": str(record.offset),
            "error.consumer": consumer,
            "error.type": type(exc).__name__,
            "error.message": _describe(exc),
            "error.attempts": str(attempts),
            "error.at": datetime.now(UTC).isoformat(),
        }
    )
    await broker.publish(
        msg.body,
        topic=dead_letter_for(record.topic),
        key=record.key,
        headers=headers,
        correlation_id=str(uuid.uuid4()),
    )
    DEAD_LETTERS.labels(record.topic).inc()
    EVENTS_CONSUMED.labels(record.topic, consumer, "dead_lettered").inc()
    log.error(
        "message dead-lettered",
        extra={
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "error": type(exc).__name__,
        },
    )
