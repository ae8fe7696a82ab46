"""Create the hub's topics on a cluster that does not have them yet, and find those made
with the wrong number of partitions."""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import PARTITIONS, all_topics
from services.plumbing.kafka_metadata import never_ask_brokers_to_create_topics

never_ask_brokers_to_create_topics()  # describing a missing topic must not make it

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(bootstrap_servers: str, replication_factor: int = 1) -> list[str]:
    """Create every missing topic with the fixed partition count; returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="hub-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics() if t not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(t, PARTITIONS, replication_factor) for t in missing]
        )
        for topic, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {topic}: {message} (code {code})")
        return missing
    finally:
        await admin.close()


async def partition_counts(bootstrap_servers: str) -> dict[str, int]:
    """Each existing hub topic's number of partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="hub-topics")
    await admin.start()
    try:
        described = await admin.describe_topics(all_topics())
        return {
            str(topic["topic"]): len(topic["partitions"])
            for topic in described
            if topic.get("error_code", 0) == 0
        }
    finally:
        await admin.close()


def misfits(partition_counts: Mapping[str, int]) -> dict[str, int]:
    """The hub topics that are missing (0) or do not have ``PARTITIONS`` partitions: a
    consumer group would leave some partitions unread, or keys would move. A broker makes
    such topics when a client asks it to (see ``kafka_metadata``)."""
    return {
        topic: partition_counts.get(topic, 0)
        for topic in all_topics()
        if partition_counts.get(topic, 0) != PARTITIONS
    }
