"""Create the hub's topics on a cluster that does not have them yet."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import PARTITIONS, all_topics

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
