"""Reading topics back from the beginning without joining a consumer group: what the
dead-letter tool lists, and what the tests see on the bus."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.plumbing.kafka_access import KafkaAccess


async def read_from_beginning(
    access: KafkaAccess, topics: list[str]
) -> list[ConsumerRecord[Any, Any]]:
    """Every record on ``topics`` up to their end offsets when called, each partition in
    offset order; nothing is committed. A topic the client has no metadata for yet is
    looked up once more; one that does not exist reads as empty."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **access.client_options())
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[Any, Any]] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batch.items():
                records += messages
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()
