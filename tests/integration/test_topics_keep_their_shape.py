"""Topics are made only by the hub's topic administration, with six partitions each: a
service asking a broker about a topic that is not there does not make it with the broker's
default shape, even on a broker that would (``auto.create.topics.enable=true``, Apache
Kafka's default), and a topic that was made so is found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

import services.plumbing.kafka  # noqa: F401  (what every service imports)
from schemas import topics
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client, ensure_topics, misfits, partition_counts
from tests.support import infra


@pytest.fixture(scope="module")
def obliging_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaAccess]:
    """A broker of this module's own that creates any topic a client asks about."""
    overrides = {"auto.create.topics.enable": "true", "num.partitions": "4"}
    with infra.kafka_broker(tmp_path_factory.mktemp("obliging"), overrides) as broker:
        yield infra.admin_access(broker)


async def _topics(access: KafkaAccess) -> list[str]:
    async with admin_client(access) as admin:
        return list(await admin.list_topics())


async def test_asking_about_a_missing_topic_does_not_make_it(obliging_broker: KafkaAccess) -> None:
    producer = AIOKafkaProducer(request_timeout_ms=2_000, **obliging_broker.client_options())
    await producer.start()
    try:
        with pytest.raises(KafkaError):
            await producer.partitions_for(topics.REFERRAL_RECEIVED)
    finally:
        await producer.stop()
    assert topics.REFERRAL_RECEIVED not in await _topics(obliging_broker)


async def test_a_topic_made_with_the_wrong_partition_count_is_found(
    obliging_broker: KafkaAccess,
) -> None:
    async with admin_client(obliging_broker) as admin:
        await admin.create_topics([NewTopic(topics.REFERRAL_ROUTED, 4, 1)])
    created = await ensure_topics(obliging_broker)
    assert topics.REFERRAL_ROUTED not in created  # it exists, so it was left alone
    counts = await partition_counts(obliging_broker)
    assert misfits(counts) == {topics.REFERRAL_ROUTED: 4}


async def test_topics_made_by_the_hub_have_their_partitions_and_configuration(
    kafka: KafkaAccess,
) -> None:
    assert misfits(await partition_counts(kafka)) == {}
    async with admin_client(kafka) as admin:
        described = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topics.REFERRAL_RECEIVED),
                ConfigResource(
                    ConfigResourceType.TOPIC, topics.dead_letter_for(topics.REFERRAL_RECEIVED)
                ),
            ]
        )
    retention = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}["retention.ms"]
        for response in described
        for resource in response.resources
    }
    assert retention == {
        topics.REFERRAL_RECEIVED: str(topics.RETENTION_DAYS * topics.DAY_MS),
        topics.dead_letter_for(topics.REFERRAL_RECEIVED): str(
            topics.DEAD_LETTER_RETENTION_DAYS * topics.DAY_MS
        ),
    }
