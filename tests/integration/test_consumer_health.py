"""A consumer whose group membership has ended for good (aiokafka never starts its
coordination task again) stops the process, so that it is started again with a consumer
that works; a working consumer never does."""

from __future__ import annotations

import asyncio
import uuid

from faststream.kafka import KafkaMessage

from services.plumbing import consumer_health
from services.plumbing.kafka import make_broker
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.settings import ServiceSettings
from tests.support.infra import fresh_topic
from tests.support.services import kafka_settings
from tests.support.waiting import until

CHECK = 0.5
"""Seconds between the watcher's checks here (5 in a service)."""


async def test_a_consumer_whose_membership_ended_stops_the_process(
    database_url: str, kafka: KafkaAccess
) -> None:
    topic = await fresh_topic(kafka)
    settings = ServiceSettings(
        database_url=database_url,
        **kafka_settings(kafka),  # type: ignore[arg-type]
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )
    broker = make_broker(settings, "health-test")
    group = f"health-{uuid.uuid4()}"

    subscriber = broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")

    @subscriber
    async def handle(msg: KafkaMessage) -> None:
        pass

    stopped = asyncio.Event()
    await broker.start()
    watcher = asyncio.create_task(
        consumer_health.watch_forever(broker, stop=stopped.set, every=CHECK)
    )
    try:
        consumer = subscriber.consumer
        assert consumer is not None
        await until(lambda: consumer.assignment(), timeout=30, what="partitions assigned")
        # Three checks' time with a healthy consumer: nothing is stopped.
        await asyncio.sleep(3 * CHECK)
        assert not stopped.is_set()
        assert consumer_health.ended_memberships(broker) == {}

        # What a broker restart once did (aio-libs/aiokafka#1038): the coordinator lookup
        # fails with an error aiokafka does not expect, which ends its coordination task.
        async def lookup_fails(*_: object, **__: object) -> int:
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

        coordinator = consumer._coordinator
        coordinator._client.coordinator_lookup = lookup_fails
        coordinator.coordinator_dead()
        await until(stopped.is_set, timeout=30, what="the process asked to stop")
        assert consumer_health.ended_memberships(broker) == {group: "RuntimeError"}
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await broker.stop()
