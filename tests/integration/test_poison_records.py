"""Records that cannot be decoded at any layer (a header name or value, the key, the value,
the envelope, the schema) go to the dead-letter topic one by one, with their error, byte for
byte; every valid record of the same batch is applied exactly once, and the consumer carries
on. Hypothesis writes the bytes; the records are fetched together, so they share a batch."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing.kafka import Delivered, On, make_broker, subscribe
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.kafka_records import is_utf8
from tests.integration.test_outbox_and_consumer import _event, _settings
from tests.support.infra import fresh_topic
from tests.support.kafka_reader import read_all
from tests.support.raw_records import RawRecord, send_raw
from tests.support.waiting import eventually

FASTSTREAMS_OWN = ("content-type", "correlation_id", "traceparent", "tracestate")
"""Headers FastStream's producer (and its telemetry middleware, the dead letter's trace) adds
to every record it writes, the dead letters too: the invalid records here carry none."""
NOT_UTF8 = st.binary(min_size=1, max_size=12).filter(lambda b: not is_utf8(b))


def _good(referral_id: uuid.UUID, n: int) -> bytes:
    return json.dumps(_event(referral_id, n, "any.topic").envelope).encode()


# Headers a valid record may carry: any text, under any name (FastStream's and the trace
# context's own names among them, with values they would not expect), or no value at all.
text_headers = st.lists(
    st.tuples(
        st.sampled_from(
            ["traceparent", "tracestate", "baggage", "content-type", "correlation_id", "note"]
        ).map(str.encode)
        | st.text(min_size=1, max_size=8).map(str.encode),
        st.none() | st.text(max_size=30).map(str.encode) | st.just(b"application/json"),
    ),
    max_size=3,
)

# What is wrong with an invalid record, and what its dead letter says.
Fault = tuple[str, str]
faults: st.SearchStrategy[Fault] = st.sampled_from(
    [
        ("header_name", "header name"),
        ("header_value", "is not UTF-8 text"),
        ("key", "key is not UTF-8 text"),
        ("value_bytes", "not valid JSON"),
        ("not_an_event", "invalid fields"),
        ("wrong_type", "unexpected event type"),
        ("named_twice", "duplicate members"),
    ]
)


def _invalid(fault: str, referral_id: uuid.UUID, n: int, junk: bytes) -> RawRecord:
    key = str(referral_id).encode()
    good = _good(referral_id, n)
    match fault:
        case "header_name":
            return RawRecord(good, key, [(b"qa-" + junk, b"note")])
        case "header_value":
            return RawRecord(good, key, [(b"qa-note", junk)])
        case "key":
            return RawRecord(good, junk)
        case "value_bytes":
            return RawRecord(junk + b"\xff", key)
        case "not_an_event":
            return RawRecord(json.dumps({"type": "test.v1", "data": junk.hex()}).encode(), key)
        case "wrong_type":
            envelope = json.loads(good)
            return RawRecord(json.dumps({**envelope, "type": "other.v1"}).encode(), key)
        case _:
            return RawRecord(good[:-1] + b', "subject": "twice"}', key)


async def _exercise(
    database_url: str,
    kafka: KafkaAccess,
    plan: list[tuple[bool, list[tuple[bytes, bytes | None]], Fault, bytes]],
    max_batch: int,
) -> None:
    topic = await fresh_topic(kafka)  # only this example's records
    referral_id = uuid.uuid4()  # one key, so one partition: fetched as one batch, in order
    records: list[RawRecord] = []
    expected_good: list[uuid.UUID] = []
    expected_dead: list[tuple[RawRecord, str]] = []
    for n, (valid, headers, (fault, message), junk) in enumerate(plan):
        if valid:
            value = _good(referral_id, n)
            expected_good.append(uuid.UUID(json.loads(value)["id"]))
            records.append(RawRecord(value, str(referral_id).encode(), headers))
        else:
            record = _invalid(fault, referral_id, n, junk)
            expected_dead.append((record, message))
            records.append(record)
    last = _good(referral_id, len(plan))  # the consumer carries on after them all
    expected_good.append(uuid.UUID(json.loads(last)["id"]))
    records.append(RawRecord(last, str(referral_id).encode()))
    # Written before the consumer starts: its first fetch takes them together.
    await send_raw(kafka, topic, records)

    applied: Counter[uuid.UUID] = Counter()

    async def handle(event: CloudEvent[events.HeldRoute]) -> None:
        applied[event.id] += 1

    async def handle_batch(batch: list[Delivered[CloudEvent[events.HeldRoute]]]) -> None:
        for delivered in batch:
            with delivered.traced():  # the trace context each record carried, whatever it is
                applied[delivered.event.id] += 1

    service_settings = _settings(database_url, kafka)
    # With the telemetry middleware, which reads trace context from every record's headers.
    broker = make_broker(service_settings, "test", tracer_provider=TracerProvider())
    subscribe(
        broker,
        topic=topic,
        group_id=f"poison-{uuid.uuid4().hex[:6]}",
        handlers={"test.v1": On(CloudEvent[events.HeldRoute], handle, handle_batch)},
        settings=service_settings,
        max_batch=max_batch,
    )
    await broker.start()

    async def carried_on() -> bool:
        return expected_good[-1] in applied

    async def all_dead_lettered() -> bool:
        # A record whose key is not the others' may be on another partition, read later.
        return len(await read_all(kafka, [f"{topic}.dlt"])) >= len(expected_dead)

    try:
        await eventually(carried_on, timeout=30, what="the record after them all applied")
        await eventually(all_dead_lettered, timeout=30, what="every invalid record dead-lettered")
    finally:
        await broker.stop()
    assert applied == Counter(expected_good)  # each valid record once, none of the others
    dead = sorted(await read_all(kafka, [f"{topic}.dlt"]), key=lambda r: (r.value, r.key))
    expected_dead.sort(key=lambda e: (e[0].value or b"", e[0].key))
    assert [(r.value, r.key) for r in dead] == [(e.value, e.key) for e, _ in expected_dead]
    for letter, (record, message) in zip(dead, expected_dead, strict=True):
        error = dict(letter.headers)
        assert error["error.topic"] == topic.encode()
        assert message in (error["error.message"] or b"").decode(), error
        kept = [
            h
            for h in letter.headers
            if not h[0].startswith(("error.", "retry.")) and h[0] not in FASTSTREAMS_OWN
        ]
        if all(is_utf8(name) for name, _ in record.headers):  # else kept escaped
            assert kept == [(name.decode(), value) for name, value in record.headers]


plans = st.lists(
    st.tuples(st.booleans(), text_headers, faults, NOT_UTF8),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=plans, max_batch=st.sampled_from([1, 50]))
def test_every_valid_record_is_applied_once_and_every_invalid_one_dead_lettered(
    plan: list[tuple[bool, list[tuple[bytes, bytes | None]], Fault, bytes]],
    max_batch: int,
    module_database_url: str,
    kafka_admin: KafkaAccess,
) -> None:
    asyncio.run(_exercise(module_database_url, kafka_admin, plan, max_batch))


async def test_a_header_that_is_not_utf8_takes_only_its_own_record_to_the_dead_letters(
    module_database_url: str, kafka: KafkaAccess
) -> None:
    """The case from the field: ``qa-note: b'\\xc3\\x28'`` beside a valid record, fetched
    together by a batch consumer: once, FastStream's parser skipped the whole batch."""
    header_fault = ("header_value", "header qa-note is not UTF-8 text")
    await _exercise(
        module_database_url,
        kafka,
        [(False, [], header_fault, b"\xc3\x28"), (True, [], header_fault, b"")],
        max_batch=50,
    )
