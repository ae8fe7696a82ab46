"""Topics are made only by the hub's topic administration, with six partitions each: a
service asking the broker about a topic that is not there (as every service does while the
embedded broker restarts empty) does not make it with the broker's default shape, and a
topic that was made so is found."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

import services.plumbing.kafka  # noqa: F401  (what every service imports)
from schemas import topics
from services.plumbing.topics_admin import ensure_topics, misfits, partition_counts
from tests.support import infra


async def _topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def test_asking_about_a_missing_topic_does_not_make_it(tmp_path: Path) -> None:
    with infra.tansu_broker(tmp_path) as broker:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=2_000
        )
        await producer.start()
        try:
            with pytest.raises(KafkaError):
                await producer.partitions_for(topics.REFERRAL_RECEIVED)
        finally:
            await producer.stop()
        assert topics.REFERRAL_RECEIVED not in await _topics(broker.bootstrap_servers)


async def test_a_topic_made_with_the_wrong_partition_count_is_found(tmp_path: Path) -> None:
    with infra.tansu_broker(tmp_path) as broker:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topics.REFERRAL_RECEIVED, 4, 1)])
        finally:
            await admin.close()
        created = await ensure_topics(broker.bootstrap_servers)
        assert topics.REFERRAL_RECEIVED not in created  # it exists, so it was left alone
        counts = await partition_counts(broker.bootstrap_servers)
        assert misfits(counts) == {topics.REFERRAL_RECEIVED: 4}


async def test_topics_made_by_the_hub_have_their_partitions(kafka: str) -> None:
    assert misfits(await partition_counts(kafka)) == {}
