"""What the outbox relay puts on the broker, read back as a consumer sees it: the envelope as
it was written, the key, and the headers the consumers rely on (content type, the event id
as correlation id, the trace of the change that wrote the row), whether or not that trace is
recorded (issue 18: the relay sends through aiokafka's producer, not FastStream's path)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from functools import partial

import pytest

from services.plumbing import db, migrations, outbox
from services.plumbing.kafka_access import KafkaAccess
from tests.integration.test_outbox_and_consumer import _event, none_waiting, relaying
from tests.support.infra import fresh_topic
from tests.support.kafka_reader import read_all
from tests.support.waiting import eventually

SCHEMA = "relay_records_test"
"""A schema of this test's own: its outbox holds only the rows written here."""


@pytest.fixture
async def topic(kafka: KafkaAccess) -> str:
    return await fresh_topic(kafka)


def _traced_event(topic: str, traceparent: str) -> outbox.OutgoingEvent:
    return dataclasses.replace(_event(uuid.uuid4(), 1, topic), headers={"traceparent": traceparent})


def _traceparent(sampled: bool) -> str:
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{'01' if sampled else '00'}"


async def test_relayed_records_carry_the_envelope_key_and_headers_consumers_read(
    database_url: str, kafka: KafkaAccess, topic: str
) -> None:
    await migrations.apply(database_url, SCHEMA, {"plumbing": migrations.PLUMBING_MIGRATIONS})
    pool = await db.create_pool(database_url, SCHEMA, application_name="test")
    written = [_traced_event(topic, _traceparent(sampled)) for sampled in (True, False, True)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, written)
    try:
        async with relaying(database_url, kafka, pool, SCHEMA):
            sent = partial(none_waiting, pool)
            await eventually(sent, timeout=15, what="the three events acknowledged")
    finally:
        await pool.close()
    records = {r.key: r for r in await read_all(kafka, [topic])}
    for event in written:
        record = records[str(event.key).encode()]
        assert json.loads(record.value or b"") == json.loads(json.dumps(event.envelope))
        headers = {name: value.decode() for name, value in record.headers}
        assert headers["content-type"] == "application/cloudevents+json"
        assert headers["correlation_id"] == str(event.event_id)
        # The consumer continues the trace of the change that wrote the row.
        assert headers["traceparent"].split("-")[1] == event.headers["traceparent"].split("-")[1]
