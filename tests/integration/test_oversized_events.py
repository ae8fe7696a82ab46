"""An event the broker can never take (over its ``message.max.bytes``) never blocks the
outbox: the relay sets its row aside, with the error, counts it, and every later event is
published within seconds, in order. Against the session's real Apache Kafka."""

from __future__ import annotations

import json
import sys
import uuid
from functools import partial

from aiokafka.admin import NewTopic
from prometheus_client import REGISTRY

from schemas.topics import MESSAGE_MAX_BYTES, PARTITIONS, dead_letter_for, retry_topics_for
from services.plumbing import outbox
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client
from tests.integration.test_outbox_and_consumer import (
    SCHEMA,
    _event,
    _migrated_pool,
    none_waiting,
    relaying,
)
from tests.support.infra import fresh_topic
from tests.support.kafka_reader import read_all
from tests.support.waiting import eventually

SMALL_TOPIC_BYTES = 64 * 1024
"""A topic whose own ``max.message.bytes`` is lower than the broker's: the broker, not the
producer, refuses what is over it."""


def _sized(referral_id: uuid.UUID, topic: str, size: int) -> outbox.OutgoingEvent:
    event = _event(referral_id, 0, topic)
    event.envelope["data"]["reason"] = "x" * size
    return event


def _set_aside_count() -> float:
    return REGISTRY.get_sample_value("hub_outbox_set_aside_total", {"schema": SCHEMA}) or 0.0


async def test_a_row_the_broker_can_never_take_is_set_aside_and_the_rest_flow(
    database_url: str, kafka: KafkaAccess
) -> None:
    topic = await fresh_topic(kafka)
    small = f"small.{uuid.uuid4().hex[:10]}.v1"
    async with admin_client(kafka) as admin:
        await admin.create_topics(
            [
                NewTopic(
                    name,
                    PARTITIONS,
                    1,
                    topic_configs={"max.message.bytes": str(SMALL_TOPIC_BYTES)},
                )
                for name in [small, *retry_topics_for(small), dead_letter_for(small)]
            ]
        )
    pool = await _migrated_pool(database_url)
    referral_id = uuid.uuid4()
    before = _set_aside_count()
    # Rows written before the limit was enforced (or under a broker since reconfigured):
    # ``add`` refuses them now, so they are written as they would have been then.
    token = outbox.request_limit.set(sys.maxsize)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, [_sized(referral_id, topic, MESSAGE_MAX_BYTES)])  # producer
            await outbox.add(conn, [_sized(referral_id, small, 2 * SMALL_TOPIC_BYTES)])  # broker
            await outbox.add(conn, [_event(referral_id, n, topic) for n in range(1, 21)])
    finally:
        outbox.request_limit.reset(token)
    try:
        async with relaying(database_url, kafka, pool):
            published = partial(none_waiting, pool)
            await eventually(published, timeout=10, what="the later rows published")
        async with pool.acquire() as conn:
            set_aside = await conn.fetch(
                "SELECT topic, key, error FROM outbox_set_aside ORDER BY id"
            )
    finally:
        await pool.close()
    assert [(r["topic"], r["key"], r["error"]) for r in set_aside] == [
        (topic, str(referral_id), "MessageSizeTooLargeError"),
        (small, str(referral_id), "MessageSizeTooLargeError"),
    ]
    assert _set_aside_count() == before + 2
    records = [r for r in await read_all(kafka, [topic]) if r.key == str(referral_id).encode()]
    assert [json.loads(r.value or b"")["data"]["sub_service"] for r in records] == [
        f"n{n}" for n in range(1, 21)
    ]
    assert await read_all(kafka, [small]) == []
