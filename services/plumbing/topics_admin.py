"""Create the hub's topics on a cluster that does not have them yet (with the partition count
and configuration of ``schemas.topics``), and find those made with the wrong number of
partitions. The topic job (``deploy/container/topics.py``) and the local stack both use it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import PARTITIONS, all_topics, topic_config
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.kafka_metadata import never_ask_brokers_to_create_topics

never_ask_brokers_to_create_topics()  # describing a missing topic must not make it

TOPIC_ALREADY_EXISTS = 36


@asynccontextmanager
async def admin_client(
    access: KafkaAccess, client_id: str = "hub-topics"
) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(client_id=client_id, **access.client_options())
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(access: KafkaAccess, replication_factor: int = 1) -> list[str]:
    """Create every missing topic with ``PARTITIONS`` partitions and its configuration;
    returns those created. Raises ``RuntimeError`` naming a topic the broker refused."""
    async with admin_client(access) as admin:
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics() if t not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    t,
                    PARTITIONS,
                    replication_factor,
                    topic_configs=topic_config(t, replication_factor),
                )
                for t in missing
            ]
        )
        for topic, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {topic}: {message} (code {code})")
        return missing


async def partition_counts(access: KafkaAccess) -> dict[str, int]:
    """Each existing hub topic's number of partitions."""
    async with admin_client(access) as admin:
        described = await admin.describe_topics(all_topics())
        return {
            str(topic["topic"]): len(topic["partitions"])
            for topic in described
            if topic.get("error_code", 0) == 0
        }


def misfits(partition_counts: Mapping[str, int]) -> dict[str, int]:
    """The hub topics that are missing (0) or do not have ``PARTITIONS`` partitions: a
    consumer group would leave some partitions unread, or keys would move. Someone made
    them by hand, or a broker that creates topics when asked did (see ``kafka_metadata``)."""
    return {
        topic: partition_counts.get(topic, 0)
        for topic in all_topics()
        if partition_counts.get(topic, 0) != PARTITIONS
    }
