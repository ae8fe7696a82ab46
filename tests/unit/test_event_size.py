"""The largest event an outbox takes (``EVENT_MAX_BYTES``, from the broker's
``message.max.bytes``): an event over it is refused with the fields that make it so."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.topics import (
    EVENT_MAX_BYTES,
    MESSAGE_MAX_BYTES,
    PRODUCER_MAX_REQUEST_BYTES,
    REFERRAL_RECEIVED,
    REQUEST_EVENT_MAX_BYTES,
    topic_config,
)
from services.plumbing import outbox
from services.plumbing.http import request_field

LIMIT = 10_000


def _event(data: dict[str, Any]) -> outbox.OutgoingEvent:
    return outbox.OutgoingEvent(
        topic="any.topic",
        key=uuid.uuid4(),
        envelope={"id": str(uuid.uuid4()), "type": "test.v1", "data": data},
        headers={},
    )


def _refusal(data: dict[str, Any]) -> outbox.EventTooLarge | None:
    try:
        outbox.check_size(_event(data), LIMIT)
    except outbox.EventTooLarge as exc:
        return exc
    return None


def test_the_limits_derive_from_the_brokers_one_setting() -> None:
    assert topic_config(REFERRAL_RECEIVED, 3)["max.message.bytes"] == str(MESSAGE_MAX_BYTES)
    assert REQUEST_EVENT_MAX_BYTES < EVENT_MAX_BYTES < PRODUCER_MAX_REQUEST_BYTES
    assert PRODUCER_MAX_REQUEST_BYTES < MESSAGE_MAX_BYTES
    # A request under intake's 1 MiB body limit can cause an event over the limit.
    assert REQUEST_EVENT_MAX_BYTES < 1024 * 1024


def test_a_long_list_of_codes_is_named_by_its_path() -> None:
    refusal = _refusal({"facts": {"subject": {"vulnerabilities": ["v" * 60] * 500}}})
    assert refusal is not None
    assert refusal.fields == ["facts.subject.vulnerabilities"]
    assert request_field(refusal.fields[0]) == "subject.vulnerabilities"
    assert refusal.size > refusal.limit == LIMIT


def test_two_large_fields_are_both_named_largest_first() -> None:
    refusal = _refusal({"needs": ["n" * 10] * 400, "crime_types": ["c" * 10] * 500})
    assert refusal is not None
    assert refusal.fields == ["crime_types", "needs"]


def test_an_event_at_the_limit_is_taken() -> None:
    data = {"reason": ""}
    room = LIMIT - len(json.dumps(_event(data).envelope))
    outbox.check_size(_event({"reason": "x" * room}), LIMIT)
    assert _refusal({"reason": "x" * (room + 1)}) is not None


documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=40)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=6)
    ),
    max_leaves=60,
)


def _paths(value: Any, path: tuple[str, ...] = ()) -> set[str]:
    found = {".".join(path)} if path else set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= _paths(v, (*path, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found |= _paths(v, (*path, str(i)))
    return found


@given(data=st.dictionaries(st.text(min_size=1, max_size=8), documents, max_size=6))
def test_refused_exactly_when_over_the_limit_naming_real_fields(data: dict[str, Any]) -> None:
    size = len(json.dumps(_event(data).envelope))
    refusal = _refusal(data)
    assert (refusal is not None) == (size > LIMIT)
    if refusal is not None:
        assert refusal.size == size
        assert 1 <= len(refusal.fields) <= outbox.MAX_FIELDS_NAMED
        assert set(refusal.fields) <= _paths(data) | {"(data)"}
