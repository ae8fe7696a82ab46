"""The shared plumbing against real PostgreSQL and a real broker: migrations, the outbox
relay, and the consumer wrapper's commit-after-work and dead-letter behaviour."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from aiokafka.errors import OutOfOrderSequenceNumber
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from schemas import events
from schemas.envelope import CloudEvent, envelope
from schemas.topics import RETRY_TIERS, retry_topics_for
from services.plumbing import db, inbox, migrations, outbox
from services.plumbing.kafka import On, make_broker, subscribe
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.outbox import OutboxRelay
from services.plumbing.relay_producer import RelayProducer
from services.plumbing.runtime import outbox_relay
from services.plumbing.settings import ServiceSettings
from tests.support.infra import fresh_topic
from tests.support.kafka_reader import read_all
from tests.support.services import kafka_settings
from tests.support.waiting import eventually, until

SCHEMA = "plumbing_test"
INBOX_TOPIC = "test.topic"
"""What the handlers record in their inbox: the topic's name is of no matter to it."""


@pytest.fixture
async def topic(kafka: KafkaAccess) -> str:
    """A topic of the test's own, with its retry and dead-letter topics, on the session's
    broker: a new consumer group reads from the beginning, and sees only this test's records."""
    return await fresh_topic(kafka)


def _settings(database_url: str, kafka: KafkaAccess) -> ServiceSettings:
    return ServiceSettings(
        database_url=database_url,
        **kafka_settings(kafka),  # type: ignore[arg-type]
        consumer_retry_base_seconds=0.01,
        consumer_retry_delays_seconds=(0.05, 0.1, 0.15),
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )


async def _migrated_pool(database_url: str) -> asyncpg.Pool:
    await migrations.apply(database_url, SCHEMA, {"plumbing": migrations.PLUMBING_MIGRATIONS})
    return await db.create_pool(database_url, SCHEMA, application_name="test")


@asynccontextmanager
async def relaying(
    database_url: str,
    kafka: KafkaAccess,
    pool: asyncpg.Pool,
    schema: str = SCHEMA,
    poll_interval: float = 1.0,
) -> AsyncIterator[tuple[OutboxRelay, RelayProducer]]:
    """The outbox relay of ``schema`` running over ``pool`` and publishing to the session's
    broker with its own producer, as a service's does, and that producer; stopped on leaving
    (the pool stays open)."""
    settings = _settings(database_url, kafka).model_copy(
        update={"outbox_poll_interval_seconds": poll_interval}
    )
    relay, producer = outbox_relay(settings, pool, schema)
    task = asyncio.create_task(relay.run())
    try:
        yield relay, producer
    finally:
        relay.stop()
        await task


async def none_waiting(pool: asyncpg.Pool) -> bool:
    """Whether every row of the pool's outbox is published."""
    async with pool.acquire() as conn:
        waiting = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return bool(waiting == 0)


def _event(referral_id: uuid.UUID, n: int, topic: str) -> outbox.OutgoingEvent:
    """The ``n``th test event about ``referral_id`` (its ``sub_service`` says ``n``)."""
    return _held(referral_id, f"n{n}", topic)


def _held(referral_id: uuid.UUID, sub_service: str, topic: str) -> outbox.OutgoingEvent:
    data = events.HeldRoute(
        service="VAL", sub_service=sub_service, priority="standard", rule_ids=[], reason=""
    )
    return outbox.OutgoingEvent(
        topic=topic,
        key=referral_id,
        envelope=envelope(source="test", type_="test.v1", subject=referral_id, data=data),
        headers={},
    )


async def test_migrations_apply_once_even_when_started_together(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "001_things.sql").write_text("CREATE TABLE things (id int);")
    components = {"plumbing": migrations.PLUMBING_MIGRATIONS, "things": tmp_path}
    results = await asyncio.gather(
        *(migrations.apply(database_url, SCHEMA, components) for _ in range(3))
    )
    plumbing = len(migrations.discover("plumbing", migrations.PLUMBING_MIGRATIONS))
    assert sorted(len(r) for r in results) == [0, 0, plumbing + 1]  # the plumbing's, one of ours
    assert await migrations.apply(database_url, SCHEMA, components) == []


async def test_misnamed_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1-things.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"NNN_what_it_does\.sql"):
        migrations.discover("things", tmp_path)


async def test_relay_publishes_committed_rows_in_order_and_only_committed_rows(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    pool = await _migrated_pool(database_url)
    referral_id = uuid.uuid4()
    try:
        async with relaying(database_url, kafka, pool, poll_interval=30) as (relay, _):
            await until(lambda: relay.is_leader, what="relay leadership")

            async def failing_change() -> None:
                async with pool.acquire() as conn, conn.transaction():
                    await outbox.add(conn, [_event(referral_id, 99, topic)])
                    raise RuntimeError("the change failed, so its event must not leave")

            with pytest.raises(RuntimeError):
                await failing_change()
            async with pool.acquire() as conn, conn.transaction():
                await outbox.add(conn, [_event(referral_id, n, topic) for n in range(25)])

            async def published() -> int:
                # A 30 s poll interval: only NOTIFY can have woken the relay this quickly.
                async with pool.acquire() as conn:
                    return int(
                        await conn.fetchval(
                            "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
                        )
                    )

            await eventually(lambda: _equals(published, 25), timeout=10, what="25 rows published")
    finally:
        await pool.close()
    records = [r for r in await read_all(kafka, [topic]) if r.key == str(referral_id).encode()]
    assert [json.loads(r.value or b"")["data"]["sub_service"] for r in records] == [
        f"n{n}" for n in range(25)
    ]
    assert len({r.partition for r in records}) == 1


async def _equals(probe: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await probe() == expected


async def test_only_one_relay_leads_at_a_time(database_url: str, kafka: KafkaAccess) -> None:
    pool = await _migrated_pool(database_url)

    async def never(_: object) -> None:
        raise AssertionError("not used")

    relays = [
        OutboxRelay(
            database_url=database_url, pool=pool, schema=SCHEMA, publish=never, poll_interval=0.1
        )
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await until(lambda: any(r.is_leader for r in relays), what="a leader")
        await asyncio.sleep(0.3)  # several poll cycles: the other must still be standing by
        assert sum(r.is_leader for r in relays) == 1
        leader = next(r for r in relays if r.is_leader)
        leader.stop()
        await tasks[relays.index(leader)]
        other = next(r for r in relays if r is not leader)
        await until(lambda: other.is_leader, what="the stand-by to take over")
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks)
        await pool.close()


class _Flaky:
    """A handler that fails ``failures`` times with ``error`` for events whose route
    sub-service is "poison" (or for every event, with ``poison_only=False``), then records
    the event."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        failures: int,
        error: type[BaseException],
        *,
        poison_only: bool = False,
    ) -> None:
        self.pool, self.failures, self.error, self.poison_only = pool, failures, error, poison_only
        self.calls = 0
        self.applied: list[str] = []

    async def __call__(self, event: CloudEvent[events.HeldRoute]) -> None:
        poisoned = event.data.sub_service == "poison" or not self.poison_only
        if poisoned:
            self.calls += 1
            if self.calls <= self.failures:
                raise self.error("simulated")
        async with self.pool.acquire() as conn, conn.transaction():
            await inbox.first_time(conn, "test", event.id, INBOX_TOPIC)
        self.applied.append(event.data.sub_service)


@asynccontextmanager
async def _consuming(
    database_url: str,
    kafka: KafkaAccess,
    topic: str,
    failures: int,
    error: type[BaseException],
    *,
    poison_only: bool = False,
) -> AsyncIterator[tuple[asyncpg.Pool, _Flaky, KafkaBroker]]:
    """A migrated pool, a ``_Flaky`` handler and a started consumer of ``topic`` calling
    it; all stopped on leaving."""
    pool = await _migrated_pool(database_url)
    handler = _Flaky(pool, failures=failures, error=error, poison_only=poison_only)
    broker = make_broker(_settings(database_url, kafka), "test")
    subscribe(
        broker,
        topic=topic,
        group_id=f"test-{uuid.uuid4().hex[:6]}",
        handlers={"test.v1": On(CloudEvent[events.HeldRoute], handler)},
        settings=_settings(database_url, kafka),
    )
    await broker.start()
    try:
        yield pool, handler, broker
    finally:
        await broker.stop()
        await pool.close()


async def _publish(broker: KafkaBroker, event: outbox.OutgoingEvent) -> None:
    """``event`` on its topic, keyed by its referral as the relay keys it."""
    await broker.publish(
        json.dumps(event.envelope).encode(), topic=event.topic, key=str(event.key).encode()
    )


async def _one_applied(pool: asyncpg.Pool, *, timeout: float, what: str) -> None:
    await eventually(lambda: _equals(lambda: _applied(pool), 1), timeout=timeout, what=what)


async def _applied(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM inbox"))


async def test_undecodable_message_is_dead_lettered_and_the_consumer_carries_on(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    key = str(uuid.uuid4()).encode()
    async with _consuming(database_url, kafka, topic, 0, RuntimeError) as (pool, _, broker):
        await broker.publish(b'{"name": "Private Person", "not": "an event"', topic=topic, key=key)
        good = _event(uuid.UUID(key.decode()), 1, topic)
        wrong_type = {**good.envelope, "type": "wrong.v1", "id": str(uuid.uuid4())}
        await broker.publish(json.dumps(wrong_type).encode(), topic=topic, key=key)
        # The good event with its subject named twice: which one counts is a parser's guess.
        twice = json.dumps({**good.envelope, "id": str(uuid.uuid4())})[:-1] + ', "subject": "x"}'
        await broker.publish(twice.encode(), topic=topic, key=key)
        await _publish(broker, good)
        await _one_applied(pool, timeout=20, what="the good message applied")
    dead = await read_all(kafka, [f"{topic}.dlt"])
    assert len(dead) == 3
    first = dict(dead[0].headers)
    assert first["error.topic"] == topic.encode()
    assert first["error.type"] == b"ValidationError"
    assert first["error.attempts"] == b"1"
    assert {"error.partition", "error.offset", "error.consumer", "error.at"} <= set(first)
    assert b"Private Person" not in b"".join(v for _, v in dead[0].headers)
    assert (
        dead[0].value == b'{"name": "Private Person", "not": "an event"'
    )  # original bytes, for replay
    assert dict(dead[1].headers)["error.type"] == b"UnexpectedEventType"
    assert dict(dead[2].headers)["error.type"] == b"DuplicateMembers"
    assert dict(dead[2].headers)["error.message"] == b"duplicate members: subject"


def _poison(referral_id: uuid.UUID, topic: str) -> outbox.OutgoingEvent:
    return _held(referral_id, "poison", topic)


async def test_a_failing_message_goes_through_the_retry_topics_and_succeeds(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    consuming = _consuming(database_url, kafka, topic, RETRY_TIERS, KeyError)
    async with consuming as (pool, handler, broker):
        await _publish(broker, _event(uuid.uuid4(), 1, topic))
        await _one_applied(pool, timeout=30, what="the fourth attempt")
    assert handler.calls == RETRY_TIERS + 1
    retried = await read_all(kafka, retry_topics_for(topic))
    assert sorted(r.topic for r in retried) == retry_topics_for(topic)
    assert {dict(r.headers)["retry.origin_topic"] for r in retried} == {topic.encode()}
    assert await read_all(kafka, [f"{topic}.dlt"]) == []


async def test_a_poison_message_is_dead_lettered_and_never_blocks_its_partition(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    referral_id = uuid.uuid4()  # one key: one partition, in order
    consuming = _consuming(database_url, kafka, topic, 1000, KeyError, poison_only=True)
    async with consuming as (_, handler, broker):
        await _publish(broker, _poison(referral_id, topic))
        for n in (1, 2):
            await _publish(broker, _event(referral_id, n, topic))
        await until(lambda: handler.applied == ["n1", "n2"], timeout=30, what="the later messages")

        async def dead() -> int:
            return len(await read_all(kafka, [f"{topic}.dlt"]))

        await eventually(lambda: _equals(dead, 1), timeout=30, what="the poison message in the DLT")
    (letter,) = await read_all(kafka, [f"{topic}.dlt"])
    headers = dict(letter.headers)
    assert headers["error.attempts"] == str(RETRY_TIERS + 1).encode()
    assert headers["error.type"] == b"KeyError"
    assert headers["error.topic"] == topic.encode()  # the original topic, not a retry topic
    assert headers["error.offset"] == b"0"


async def test_database_outage_is_retried_in_place_not_dead_lettered(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    consuming = _consuming(database_url, kafka, topic, 6, ConnectionRefusedError)
    async with consuming as (pool, _, broker):
        await _publish(broker, _event(uuid.uuid4(), 1, topic))
        await _one_applied(pool, timeout=60, what="the message applied")
    assert await read_all(kafka, [f"{topic}.dlt"]) == []


async def test_a_relay_whose_producer_can_no_longer_publish_starts_a_new_one(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    """aiokafka's idempotent producer, once out of step with a restarted broker or once its
    sender task has ended on an error, refuses every later send the same way
    (aio-libs/aiokafka#1017): intake would go on accepting referrals that never leave its
    outbox. The relay gives that producer up, takes a new one, and the outbox drains."""
    pool = await _migrated_pool(database_url)
    referral_id = uuid.uuid4()
    renewals = {"relay": SCHEMA, "error": "OutOfOrderSequenceNumber"}
    before = REGISTRY.get_sample_value("hub_relay_producer_renewals_total", renewals) or 0
    try:
        async with relaying(database_url, kafka, pool, poll_interval=0.2) as (_, producer):
            await _renewed_midway(pool, producer, referral_id, topic)
    finally:
        await pool.close()
    records = [r for r in await read_all(kafka, [topic]) if r.key == str(referral_id).encode()]
    assert [json.loads(r.value or b"")["data"]["sub_service"] for r in records] == [
        f"n{n}" for n in range(10)
    ]
    after = REGISTRY.get_sample_value("hub_relay_producer_renewals_total", renewals)
    assert after == before + 1


async def _renewed_midway(
    pool: asyncpg.Pool, producer: RelayProducer, referral_id: uuid.UUID, topic: str
) -> None:
    """Five events published, the producer broken, five more published."""
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, [_event(referral_id, n, topic) for n in range(5)])
    await eventually(lambda: none_waiting(pool), timeout=20, what="the first five published")
    first = producer()
    # What aiokafka does when its sender task ends on an error: every batch in hand and
    # every later send fails with that error.
    first._message_accumulator.fail_all(OutOfOrderSequenceNumber())
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, [_event(referral_id, n, topic) for n in range(5, 10)])
    await eventually(lambda: none_waiting(pool), timeout=30, what="the next five published")
    assert producer() is not first
