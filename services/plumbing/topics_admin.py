"""Create the hub's topics on a cluster that does not have them yet, and find those made
with the wrong number of partitions."""

from __future__ import annotations

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


async def misshapen_topics(bootstrap_servers: str) -> list[str]:
    """The hub's topics that exist with a partition count other than ``PARTITIONS``: a
    consumer group would leave some partitions unread, or keys would move. A broker makes
    them when a client asks it to create topics (see ``kafka_metadata``); the local stack
    restarts its embedded broker when it finds one."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="hub-topics")
    await admin.start()
    try:
        described = await admin.describe_topics(all_topics())
        return sorted(
            t["topic"]
            for t in described
            if t.get("error_code", 0) == 0 and len(t["partitions"]) != PARTITIONS
        )
    finally:
        await admin.close()
