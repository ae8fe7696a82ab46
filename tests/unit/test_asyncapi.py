"""The bus's AsyncAPI 3.0 document (``schemas.asyncapi``): the committed
``docs/asyncapi.json`` is what the code generates (``make asyncapi`` writes it), it is
valid against the AsyncAPI 3.0 JSON Schema of the pinned ``@asyncapi/specs`` package
(package-lock.json; ``npm ci`` puts it in node_modules, as ``make test`` does), and it names
every topic, message and principal the code has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas import asyncapi, events, topics
from schemas.bus_access import PRINCIPALS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"
SPEC = ROOT / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text() == asyncapi.render(), (
        "docs/asyncapi.json is out of date: run `make asyncapi` and commit it"
    )


@pytest.fixture(scope="module")
def validator() -> Any:
    assert SPEC.exists(), "the AsyncAPI JSON Schema is not installed: run `npm ci`"
    spec = json.loads(SPEC.read_text())
    return jsonschema.validators.validator_for(spec)(spec)


def test_the_document_is_valid_asyncapi_3(validator: Any) -> None:
    errors = [e.message[:200] for e in validator.iter_errors(asyncapi.document())]
    assert errors == []


def test_the_validator_would_notice_a_broken_document(validator: Any) -> None:
    broken = asyncapi.document()
    operation = next(iter(broken["operations"].values()))
    operation["action"] = "publish"  # AsyncAPI 2's word: not valid in 3.0
    assert list(validator.iter_errors(broken))


def test_every_topic_and_who_sends_and_receives_it_is_there() -> None:
    document = asyncapi.document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(topics.all_topics())
    operations = document["operations"].values()
    for principal in PRINCIPALS:
        if not principal.service_process:
            continue
        mine = [o for o in operations if o["title"].startswith(principal.name + " ")]
        sent = {o["title"].split(" sends ")[1] for o in mine if o["action"] == "send"}
        received = {o["title"].split(" receives ")[1] for o in mine if o["action"] == "receive"}
        assert set(principal.produces) <= sent
        assert {c.topic for c in principal.consumes} <= received
        assert {t for c in principal.consumes for t in c.reads} == received
    for message in document["components"]["messages"].values():
        envelope = message["payload"]
        assert envelope["properties"]["specversion"] == {"const": "1.0"}
        assert envelope["properties"]["data"]["$ref"].startswith("#/components/schemas/")
        assert message["bindings"]["kafka"]["key"]["format"] == "uuid"


def _event_classes(base: type[events.Event] = events.Event) -> list[type[events.Event]]:
    found: list[type[events.Event]] = []
    for kind in base.__subclasses__():
        found += [kind, *_event_classes(kind)]
    return found


def test_every_event_class_is_documented_on_its_topic() -> None:
    """A new event class (with its type and topic) appears in the document without anyone
    remembering to add it: its message, on its topic's channel."""
    document = asyncapi.document()
    channels = {c["address"]: c for c in document["channels"].values()}
    for kind in _event_classes():
        assert kind.TYPE in asyncapi.MESSAGES, kind.__name__
        topic = getattr(kind, "TOPIC", None)  # a work item's topic is its service's queue
        if topic is not None:
            assert kind.TYPE in channels[topic]["description"], (kind.__name__, topic)
