"""The shared plumbing against real PostgreSQL and a real broker: migrations, the outbox
relay, and the consumer wrapper's commit-after-work and dead-letter behaviour."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from faststream.kafka import KafkaBroker

from schemas import events
from schemas.envelope import CloudEvent, envelope
from services.plumbing import db, inbox, migrations, outbox
from services.plumbing.kafka import MAX_ATTEMPTS, On, make_broker, subscribe
from services.plumbing.outbox import OutboxRelay
from services.plumbing.runtime import relay_publisher
from services.plumbing.settings import ServiceSettings
from tests.support.kafka_reader import read_all
from tests.support.waiting import eventually, until

SCHEMA = "plumbing_test"
TOPIC = "referral.reassess.v1"  # any hub topic will do: nothing else uses it in these tests


def _settings(database_url: str, kafka: str) -> ServiceSettings:
    return ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        kafka_idempotence=False,
        consumer_retry_base_seconds=0.01,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )


async def _migrated_pool(database_url: str) -> asyncpg.Pool:
    await migrations.apply(database_url, SCHEMA, {"plumbing": migrations.PLUMBING_MIGRATIONS})
    return await db.create_pool(database_url, SCHEMA, application_name="test")


def _event(referral_id: uuid.UUID, n: int) -> outbox.OutgoingEvent:
    data = events.HeldRoute(
        service="VAL", sub_service=f"n{n}", priority="standard", rule_ids=[], reason=""
    )
    return outbox.OutgoingEvent(
        topic=TOPIC,
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
    assert sorted(len(r) for r in results) == [0, 0, 2]
    assert await migrations.apply(database_url, SCHEMA, components) == []


async def test_misnamed_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1-things.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"NNN_what_it_does\.sql"):
        migrations.discover("things", tmp_path)


async def test_relay_publishes_committed_rows_in_order_and_only_committed_rows(
    database_url: str, kafka: str
) -> None:
    pool = await _migrated_pool(database_url)
    broker = make_broker(_settings(database_url, kafka), "test")
    await broker.start()
    relay = OutboxRelay(
        database_url=database_url,
        pool=pool,
        schema=SCHEMA,
        publish=relay_publisher(broker),
        poll_interval=30,
    )
    task = asyncio.create_task(relay.run())
    referral_id = uuid.uuid4()
    try:
        await until(lambda: relay.is_leader, what="relay leadership")

        async def failing_change() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await outbox.add(conn, [_event(referral_id, 99)])
                raise RuntimeError("the change failed, so its event must not leave")

        with pytest.raises(RuntimeError):
            await failing_change()
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, [_event(referral_id, n) for n in range(25)])

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
        relay.stop()
        await task
        await broker.stop()
        await pool.close()
    records = [r for r in await read_all(kafka, [TOPIC]) if r.key == str(referral_id).encode()]
    assert [json.loads(r.value or b"")["data"]["sub_service"] for r in records] == [
        f"n{n}" for n in range(25)
    ]
    assert len({r.partition for r in records}) == 1


async def _equals(probe: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await probe() == expected


async def test_only_one_relay_leads_at_a_time(database_url: str, kafka: str) -> None:
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
    """A handler that fails ``failures`` times with ``error``, then records the event."""

    def __init__(self, pool: asyncpg.Pool, failures: int, error: type[BaseException]) -> None:
        self.pool, self.failures, self.error = pool, failures, error
        self.calls = 0

    async def __call__(self, event: CloudEvent[events.HeldRoute]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("simulated")
        async with self.pool.acquire() as conn, conn.transaction():
            await inbox.first_time(conn, "test", event.id, TOPIC)


async def _consume(database_url: str, kafka: str, handler: _Flaky) -> KafkaBroker:
    broker = make_broker(_settings(database_url, kafka), "test")
    subscribe(
        broker,
        topic=TOPIC,
        group_id=f"test-{uuid.uuid4().hex[:6]}",
        handlers={"test.v1": On(CloudEvent[events.HeldRoute], handler)},
        settings=_settings(database_url, kafka),
    )
    await broker.start()
    return broker


async def _applied(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM inbox"))


async def test_undecodable_message_is_dead_lettered_and_the_consumer_carries_on(
    database_url: str, kafka: str
) -> None:
    pool = await _migrated_pool(database_url)
    handler = _Flaky(pool, failures=0, error=RuntimeError)
    broker = await _consume(database_url, kafka, handler)
    key = str(uuid.uuid4()).encode()
    try:
        await broker.publish(b'{"name": "Private Person", "not": "an event"', topic=TOPIC, key=key)
        good = _event(uuid.UUID(key.decode()), 1)
        wrong_type = {**good.envelope, "type": "wrong.v1", "id": str(uuid.uuid4())}
        await broker.publish(json.dumps(wrong_type).encode(), topic=TOPIC, key=key)
        await broker.publish(json.dumps(good.envelope).encode(), topic=TOPIC, key=key)
        await eventually(
            lambda: _equals(lambda: _applied(pool), 1), what="the good message applied"
        )
    finally:
        await broker.stop()
        await pool.close()
    dead = await read_all(kafka, [f"{TOPIC}.dlt"])
    assert len(dead) == 2
    first = dict(dead[0].headers)
    assert first["error.topic"] == TOPIC.encode()
    assert first["error.type"] == b"ValidationError"
    assert first["error.attempts"] == b"1"
    assert {"error.partition", "error.offset", "error.consumer", "error.at"} <= set(first)
    assert b"Private Person" not in b"".join(v for _, v in dead[0].headers)
    assert (
        dead[0].value == b'{"name": "Private Person", "not": "an event"'
    )  # original bytes, for replay
    assert dict(dead[1].headers)["error.type"] == b"UnexpectedEventType"


async def test_failing_handler_is_retried_then_dead_lettered_without_blocking_the_partition(
    database_url: str, kafka: str
) -> None:
    pool = await _migrated_pool(database_url)
    handler = _Flaky(pool, failures=MAX_ATTEMPTS, error=KeyError)
    broker = await _consume(database_url, kafka, handler)
    referral_id = uuid.uuid4()
    try:
        for n in (1, 2):
            await broker.publish(
                json.dumps(_event(referral_id, n).envelope).encode(),
                topic=TOPIC,
                key=str(referral_id).encode(),
            )
        await eventually(
            lambda: _equals(lambda: _applied(pool), 1), timeout=30, what="the second message"
        )
    finally:
        await broker.stop()
        await pool.close()
    assert handler.calls == MAX_ATTEMPTS + 1
    (dead,) = await read_all(kafka, [f"{TOPIC}.dlt"])
    assert dict(dead.headers)["error.attempts"] == str(MAX_ATTEMPTS).encode()
    assert dict(dead.headers)["error.type"] == b"KeyError"


async def test_database_outage_is_retried_in_place_not_dead_lettered(
    database_url: str, kafka: str
) -> None:
    pool = await _migrated_pool(database_url)
    handler = _Flaky(pool, failures=MAX_ATTEMPTS + 2, error=ConnectionRefusedError)
    broker = await _consume(database_url, kafka, handler)
    referral_id = uuid.uuid4()
    try:
        await broker.publish(
            json.dumps(_event(referral_id, 1).envelope).encode(),
            topic=TOPIC,
            key=str(referral_id).encode(),
        )
        await eventually(
            lambda: _equals(lambda: _applied(pool), 1), timeout=60, what="the message applied"
        )
    finally:
        await broker.stop()
        await pool.close()
    assert await read_all(kafka, [f"{TOPIC}.dlt"]) == []
