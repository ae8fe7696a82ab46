"""Every record, whatever its bytes, is read by the consumer wrapper's decoding layer as an
event or refused with an error of ``UNDECODABLE`` that names the part at fault and never
repeats its content; FastStream's parsers, behind ours, never raise on a record's headers
(ag2ai/faststream#2458: one record's header made a whole fetched batch fail)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaBatchParser, AioKafkaParser
from hypothesis import given
from hypothesis import strategies as st

from schemas import events
from schemas.envelope import CloudEvent, envelope
from services.plumbing import kafka_records
from services.plumbing.kafka import (
    UNDECODABLE,
    On,
    _Origin,
    _Received,
    decode_record,
    describe,
)
from services.plumbing.kafka_records import is_utf8

TOPIC = "test.v1"
SECRET = "Private Person 07700 900123"
"""Written into the faulty records: no error may repeat it."""


async def _ignore(event: Any) -> None:
    return None


HANDLERS = {"test.v1": On(CloudEvent[events.HeldRoute], _ignore)}


def _envelope(**changes: Any) -> dict[str, Any]:
    referral_id = uuid.uuid4()
    data = events.HeldRoute(
        service="VAL", sub_service="n1", priority="standard", rule_ids=[], reason=""
    )
    made = envelope(source="test", type_="test.v1", subject=referral_id, data=data)
    return {**made, **changes}


def _received(
    value: bytes, key: bytes | None = None, headers: list[tuple[bytes, bytes | None]] | None = None
) -> _Received:
    named = tuple(
        (name.decode("utf-8", "surrogateescape"), header) for name, header in headers or []
    )
    return _Received(value, key, named, _Origin(TOPIC, 0, 0))


def _refusal(received: _Received) -> str | None:
    """None when the record decodes; else the dead letter's error message."""
    try:
        decode_record(received, HANDLERS, TOPIC)
    except UNDECODABLE as exc:
        return describe(exc)
    return None


# Values: anything at all, JSON that is not an envelope, and envelopes with a field spoiled.
values = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=16).map(lambda b: SECRET.encode() + b),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.just(SECRET),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    ).map(lambda doc: json.dumps(doc).encode()),
    st.sampled_from(["id", "type", "subject", "data", "time", "source", "specversion"]).map(
        lambda field: json.dumps(_envelope(**{field: SECRET})).encode()
    ),
    st.just(json.dumps(_envelope()).encode()[:-1] + f', "subject": "{SECRET}"}}'.encode()),
)
names = st.binary(min_size=1, max_size=10)
headers = st.lists(st.tuples(names, st.none() | st.binary(max_size=10)), max_size=4)
keys = st.none() | st.binary(max_size=40)


@given(value=values, key=keys, record_headers=headers)
def test_any_record_is_an_event_or_refused_without_its_content(
    value: bytes, key: bytes | None, record_headers: list[tuple[bytes, bytes | None]]
) -> None:
    message = _refusal(_received(value, key, record_headers))
    if message is not None:
        assert SECRET not in message
    not_text = any(not is_utf8(n) or (v is not None and not is_utf8(v)) for n, v in record_headers)
    if not_text or (key is not None and not is_utf8(key)):
        assert message is not None
        assert "is not UTF-8 text" in message


@given(value=st.binary(max_size=8), record_headers=headers, key=keys)
def test_a_valid_envelope_is_refused_only_for_headers_or_key_that_are_not_text(
    value: bytes, record_headers: list[tuple[bytes, bytes | None]], key: bytes | None
) -> None:
    good = json.dumps(_envelope()).encode()
    message = _refusal(_received(good, key, record_headers))
    not_text = any(not is_utf8(n) or (v is not None and not is_utf8(v)) for n, v in record_headers)
    assert (message is not None) == (not_text or (key is not None and not is_utf8(key)))


@pytest.mark.parametrize(
    ("value", "key", "record_headers", "message"),
    [
        # The case from the field, and one of each layer.
        (b"good", b"k", [(b"qa-note", b"\xc3\x28")], "header qa-note is not UTF-8 text"),
        (b"good", b"k", [(b"qa-\xc3\x28", b"note")], "a header name is not UTF-8 text"),
        (b"good", b"\xff", [], "the key is not UTF-8 text"),
        (b'{"name": "' + SECRET.encode() + b'"', b"k", [], "not valid JSON"),
        (b"\xc3\x28", b"k", [], "not valid JSON"),
        (
            json.dumps({"type": "test.v1"}).encode(),
            b"k",
            [],
            "invalid fields: data, source, subject",
        ),
        (json.dumps(_envelope(type="other.v1")).encode(), b"k", [], "unexpected event type"),
        (
            json.dumps(_envelope()).encode()[:-1] + b', "subject": "x"}',
            b"k",
            [],
            "duplicate members: subject",
        ),
    ],
)
def test_each_layer_says_what_is_wrong(
    value: bytes, key: bytes, record_headers: list[tuple[bytes, bytes | None]], message: str
) -> None:
    if value == b"good":
        value = json.dumps(_envelope()).encode()
    refusal = _refusal(_received(value, key, record_headers))
    assert refusal is not None
    assert refusal.startswith(message)


def _record(
    offset: int, record_headers: list[tuple[bytes, bytes | None]]
) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=TOPIC,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=[(n.decode("utf-8", "surrogateescape"), v) for n, v in record_headers],
    )


@given(batch=st.lists(headers, min_size=1, max_size=5))
def test_faststreams_parsers_take_any_headers_through_ours(
    batch: list[list[tuple[bytes, bytes | None]]],
) -> None:
    records = tuple(_record(n, record_headers) for n, record_headers in enumerate(batch))
    single = AioKafkaParser(msg_class=KafkaMessage, regex=None)
    together = AioKafkaBatchParser(msg_class=KafkaMessage, regex=None)

    async def parse() -> None:
        for record in records:
            message = await kafka_records.parse_record(record, single.parse_message)
            received = _Received.of(message)
            # What the wrapper reads is the record's own bytes, a missing value as empty.
            assert [v for _, v in received.raw_headers] == [v or b"" for _, v in record.headers]
        message = await kafka_records.parse_batch(records, together.parse_batch)
        assert len(message.raw_message) == len(records)

    asyncio.run(parse())


@given(record_headers=headers)
def test_headers_published_again_keep_their_bytes(
    record_headers: list[tuple[bytes, bytes | None]],
) -> None:
    received = _received(b"", None, record_headers)
    again = kafka_records.republished(received.headers)
    for (name, value), (written_name, written) in zip(
        dict(received.headers).items(), again.items(), strict=True
    ):
        # As FastStream's producer writes them (``(value or "").encode()``).
        assert (written or "").encode() == name_value(received, name)
        assert written_name.encode()  # every name can be written, spelled if need be
        assert written_name == name or not is_utf8(kafka_records.name_bytes(name))
        del value


def name_value(received: _Received, name: str) -> bytes:
    return {n: v or b"" for n, v in received.raw_headers}[name]
