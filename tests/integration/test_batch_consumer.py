"""A batch consumer (``subscribe(max_batch=...)``, as the router and the adapters use) against
a real broker: it waits on the fetch for records (``services/plumbing/kafka_batches.py``)
rather than polling and sleeping, so records that arrive while it is idle are handed over,
each once and in order, and what it handled is committed (a restarted consumer of the same
group gets none of it again)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber

from schemas import events
from schemas.envelope import CloudEvent, envelope
from services.plumbing.kafka import Delivered, On, make_broker, subscribe
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.settings import ServiceSettings
from tests.support.infra import fresh_topic
from tests.support.services import kafka_settings
from tests.support.waiting import until

Event = CloudEvent[events.HeldRoute]


@pytest.fixture
async def topic(kafka: KafkaAccess) -> str:
    return await fresh_topic(kafka)


class _Batches:
    """Records every batch handed over, as the sub-services of its events."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    @property
    def handled(self) -> list[str]:
        return [name for batch in self.batches for name in batch]

    def counted(self, count: int) -> Callable[[], bool]:
        return lambda: len(self.handled) == count

    async def one(self, event: Event) -> None:
        self.batches.append([event.data.sub_service])

    async def many(self, delivered: list[Delivered[Event]]) -> None:
        self.batches.append([d.event.data.sub_service for d in delivered])


async def _consumer(
    database_url: str, kafka: KafkaAccess, topic: str, group: str, seen: _Batches
) -> KafkaBroker:
    settings = ServiceSettings(database_url=database_url, **kafka_settings(kafka))  # type: ignore[arg-type]
    broker = make_broker(settings, "test-batches")
    subscribe(
        broker,
        topic=topic,
        group_id=group,
        handlers={"test.v1": On(Event, seen.one, handle_batch=seen.many)},
        settings=settings,
        max_batch=100,
    )
    await broker.start()
    return broker


def _body(referral_id: uuid.UUID, name: str) -> bytes:
    data = events.HeldRoute(
        service="VAL", sub_service=name, priority="standard", rule_ids=[], reason=""
    )
    return json.dumps(
        envelope(source="test", type_="test.v1", subject=referral_id, data=data)
    ).encode()


async def test_records_arriving_while_the_batch_consumer_waits_are_handed_over_once_in_order(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    assert getattr(BatchSubscriber.get_msg, "waits_for_records", False)
    seen = _Batches()
    group = f"test-{uuid.uuid4().hex[:6]}"
    referral_id = uuid.uuid4()  # one key: one partition, whose order must be kept
    key = str(referral_id).encode()
    broker = await _consumer(database_url, kafka, topic, group, seen)
    try:
        # The consumer is idle, waiting on its fetch, each time one of these arrives.
        for n in range(3):
            await broker.publish(_body(referral_id, f"n{n}"), topic=topic, key=key)
            await until(seen.counted(n + 1), what=f"record {n} handed over")
        # A burst arrives as one fetch or a few: in order, none twice.
        for n in range(3, 40):
            await broker.publish(_body(referral_id, f"n{n}"), topic=topic, key=key)
        await until(lambda: len(seen.handled) >= 40, what="the burst handed over")
    finally:
        await broker.stop()
    assert seen.handled == [f"n{n}" for n in range(40)]

    # Committed after each batch: the group, started again, has nothing left to read.
    again = _Batches()
    broker = await _consumer(database_url, kafka, topic, group, again)
    try:
        await broker.publish(_body(referral_id, "after"), topic=topic, key=key)
        await until(lambda: again.handled, what="the new record handed over")
    finally:
        await broker.stop()
    assert again.handled == ["after"]
