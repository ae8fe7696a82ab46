"""The consumer's unit of work against a real PostgreSQL and a real broker
(``services/plumbing/unit_of_work.py``): a handler changes state and returns events; the
plumbing records the consumed event in the inbox, writes what the handler returned to the
outbox caused by it, and commits all of it or none of it. An event delivered again is not
handled again: what it produced is published again, under the same event ids."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing import db, migrations
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.plumbing.kafka import Delivered, make_broker, subscribe
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.outbox import OutgoingEvent
from services.plumbing.settings import ServiceSettings
from services.plumbing.unit_of_work import Apply, UnitOfWork, after_commit
from tests.support.infra import fresh_topic
from tests.support.services import kafka_settings
from tests.support.waiting import eventually

SCHEMA = "unit_of_work_test"
TOPIC = "test.topic"
Event = CloudEvent[events.HeldRoute]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrations.apply(database_url, SCHEMA, {"plumbing": migrations.PLUMBING_MIGRATIONS})
    pool = await db.create_pool(database_url, SCHEMA, application_name="test")
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE applied (event_id uuid, name text)")
    yield pool
    await pool.close()


def _event(name: str) -> Event:
    data = events.HeldRoute(
        service="VAL", sub_service=name, priority="standard", rule_ids=[], reason=""
    )
    return CloudEvent(source="test", type="test.v1", subject=str(uuid.uuid4()), data=data)


class _Handler:
    """Records each event it is given in a table of its own and returns two events for it;
    raises for an event named "poison". ``committed`` lists what ran after a commit."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.committed: list[str] = []

    def _produced(self, event: Event) -> list[OutgoingEvent]:
        return [
            outgoing(
                events.WorkItemCancelled(
                    route_id=uuid.uuid4(),
                    referral_id=uuid.UUID(event.subject),
                    service="VAL",
                    reason=f"{event.data.sub_service}_{n}",
                ),
                source="test",
                referral_id=uuid.UUID(event.subject),
            )
            for n in (1, 2)
        ]

    async def one(self, conn: Connection, event: Event) -> list[OutgoingEvent]:
        name = event.data.sub_service
        self.calls.append(name)
        await conn.execute("INSERT INTO applied VALUES ($1, $2)", event.id, name)
        after_commit(lambda: self.committed.append(name))
        if name == "poison":
            raise KeyError("a fault in the handler")
        return self._produced(event)

    async def many(
        self, conn: Connection, batch: list[Delivered[Event]]
    ) -> dict[uuid.UUID, list[OutgoingEvent]]:
        return {d.event.id: await self.one(conn, d.event) for d in batch}


async def _rows(pool: asyncpg.Pool, sql: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(await conn.fetch(sql))


async def _outbox(pool: asyncpg.Pool) -> list[tuple[uuid.UUID, uuid.UUID, bool]]:
    """(event id, caused by, published) for each outbox row, in the order written."""
    rows = await _rows(
        pool, "SELECT event_id, caused_by, published_at IS NOT NULL AS sent FROM outbox ORDER BY id"
    )
    return [(r["event_id"], r["caused_by"], r["sent"]) for r in rows]


async def _published_by_the_relay(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET published_at = now()")


async def _applied_and_published(
    pool: asyncpg.Pool, name: str
) -> tuple[_Handler, UnitOfWork, Event]:
    """An event applied by the consumer "test", and what it produced published since."""
    handler = _Handler()
    uow = UnitOfWork(pool, "test")
    event = _event(name)
    await uow.apply(TOPIC, event, handler.one)
    await _published_by_the_relay(pool)
    return handler, uow, event


async def test_what_the_handler_returns_is_published_caused_by_the_event_after_the_commit(
    pool: asyncpg.Pool,
) -> None:
    handler = _Handler()
    event = _event("first")
    await UnitOfWork(pool, "test").apply(TOPIC, event, handler.one)
    rows = await _outbox(pool)
    assert [(caused_by, sent) for _, caused_by, sent in rows] == [(event.id, False)] * 2
    inbox = await _rows(pool, "SELECT consumer, event_id, topic FROM inbox")
    assert [tuple(r) for r in inbox] == [("test", event.id, TOPIC)]
    assert handler.committed == ["first"]


async def test_a_handler_that_fails_leaves_no_inbox_row_no_outbox_row_and_no_change(
    pool: asyncpg.Pool,
) -> None:
    handler = _Handler()
    with pytest.raises(KeyError):
        await UnitOfWork(pool, "test").apply(TOPIC, _event("poison"), handler.one)
    assert await _rows(pool, "SELECT * FROM inbox") == []
    assert await _outbox(pool) == []
    assert await _rows(pool, "SELECT * FROM applied") == []
    assert handler.committed == []  # nothing was kept, so nothing is counted
    # Not remembered as applied: delivered again (from a retry topic), it is handled again.
    with pytest.raises(KeyError):
        await UnitOfWork(pool, "test").apply(TOPIC, _event("poison"), handler.one)
    assert handler.calls == ["poison", "poison"]


async def test_an_event_delivered_again_is_not_handled_again_and_re_drives_what_it_produced(
    pool: asyncpg.Pool,
) -> None:
    handler, uow, event = await _applied_and_published(pool, "once")
    first = await _outbox(pool)
    await uow.apply(TOPIC, event, handler.one)
    assert handler.calls == ["once"]
    assert handler.committed == ["once"]
    # The same rows, the same event ids, caused by it: to be published again, unchanged.
    assert [(event_id, cause) for event_id, cause, _ in first] == [
        (event_id, cause) for event_id, cause, _ in await _outbox(pool)
    ]
    assert [sent for *_, sent in await _outbox(pool)] == [False, False]
    assert [tuple(r) for r in await _rows(pool, "SELECT name FROM applied")] == [("once",)]
    # Another consumer (its own inbox name) applies it for itself.
    await UnitOfWork(pool, "another").apply(TOPIC, event, handler.one)
    assert handler.calls == ["once", "once"]


async def test_a_batch_is_one_transaction_that_skips_what_was_seen_and_re_drives_it(
    pool: asyncpg.Pool,
) -> None:
    handler, uow, seen = await _applied_and_published(pool, "seen")
    a, b = _event("a"), _event("b")
    batch = [Delivered(e, {}, TOPIC) for e in (a, seen, b, a)]
    await uow.apply_batch(TOPIC, batch, handler.many)
    assert handler.calls == ["seen", "a", "b"]
    rows = await _outbox(pool)
    assert [(caused_by, sent) for _, caused_by, sent in rows] == [
        (seen.id, False),  # re-driven
        (seen.id, False),
        (a.id, False),
        (a.id, False),
        (b.id, False),
        (b.id, False),
    ]
    assert sorted(handler.committed) == ["a", "b", "seen"]

    poisoned = [Delivered(e, {}, TOPIC) for e in (_event("c"), _event("poison"))]
    with pytest.raises(KeyError):
        await uow.apply_batch(TOPIC, poisoned, handler.many)
    assert len(await _rows(pool, "SELECT * FROM inbox")) == 3  # none of the failed batch
    assert len(await _outbox(pool)) == 6
    assert "c" not in handler.committed


async def test_the_consumer_applies_each_delivery_in_its_unit_of_work(
    pool: asyncpg.Pool, database_url: str, kafka: KafkaAccess
) -> None:
    """Through the broker: the event delivered twice (a producer's retry, or a re-drive
    upstream) is applied once, and its second delivery re-drives the events it caused."""
    topic = await fresh_topic(kafka)
    settings = ServiceSettings(database_url=database_url, **kafka_settings(kafka))  # type: ignore[arg-type]
    handler = _Handler()
    broker = make_broker(settings, "test-unit-of-work")
    subscribe(
        broker,
        topic=topic,
        group_id=f"test-{uuid.uuid4().hex[:6]}",
        handlers={"test.v1": Apply(Event, handler.one, handler.many)},
        settings=settings,
        max_batch=10,
        unit_of_work=UnitOfWork(pool, "test"),
    )
    event = _event("delivered")
    body = json.dumps(event.model_dump(mode="json")).encode()
    await broker.start()
    try:
        await broker.publish(body, topic=topic, key=event.subject.encode())

        async def produced() -> bool:
            return len(await _outbox(pool)) == 2

        await eventually(produced, what="the handler's events in the outbox")
        await _published_by_the_relay(pool)
        await broker.publish(body, topic=topic, key=event.subject.encode())

        async def redriven() -> bool:
            return [sent for *_, sent in await _outbox(pool)] == [False, False]

        await eventually(redriven, what="the handler's events re-driven")
    finally:
        await broker.stop()
    assert handler.calls == ["delivered"]
    assert {caused_by for _, caused_by, _ in await _outbox(pool)} == {event.id}
