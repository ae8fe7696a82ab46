"""During a broker outage aiokafka logs each failed connection, fetch and heartbeat of every
consumer: hundreds of lines a second. What reaches the log is one line per kind of message
every ten seconds, saying how many like it were held back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from services.plumbing import logs


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """What the service's one log handler writes, as ``logs.configure`` sets it up."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("router")
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:], root.level = handlers, level


def _log(name: str, level: int, template: str, *args: object, at: float) -> None:
    logger = logging.getLogger(name)
    record = logger.makeRecord(name, level, __file__, 1, template, args, None)
    record.created = at
    logger.handle(record)


def _written(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


def test_a_connection_error_ten_times_a_second_for_25_seconds_is_three_lines(
    out: io.StringIO,
) -> None:
    start = 1_000_000.0
    for n in range(250):  # a different node each time: the template is what repeats
        _log(
            "aiokafka",
            logging.ERROR,
            "Unable connect to node with id %s: %s",
            n,
            "refused",
            at=start + n / 10,
        )
    written = _written(out)
    assert [line["message"] for line in written] == [
        "Unable connect to node with id 0: refused",
        "Unable connect to node with id 100: refused",
        "Unable connect to node with id 200: refused",
    ]
    assert [line.get("repeated") for line in written] == [None, 99, 99]


def test_different_messages_are_each_said_and_the_hub_s_own_never_held_back(
    out: io.StringIO,
) -> None:
    at = 2_000_000.0
    _log("aiokafka", logging.ERROR, "Unable connect to node with id %s: %s", 1, "refused", at=at)
    _log(
        "aiokafka.consumer.fetcher",
        logging.ERROR,
        "Failed fetch messages from %s: %s",
        1,
        "x",
        at=at,
    )
    _log("aiokafka", logging.ERROR, "Unable connect to node with id %s: %s", 1, "refused", at=at)
    for _ in range(3):
        _log("services.plumbing.kafka", logging.WARNING, "batch failed", at=at)
    messages = [line["message"] for line in _written(out)]
    assert messages == [
        "Unable connect to node with id 1: refused",
        "Failed fetch messages from 1: x",
        "batch failed",
        "batch failed",
        "batch failed",
    ]


def test_after_a_quiet_spell_the_next_line_goes_out_at_once_with_what_was_held(
    out: io.StringIO,
) -> None:
    at = 3_000_000.0
    for n in range(5):
        _log("aiokafka", logging.WARNING, "Heartbeat failed for group %s", "router", at=at + n)
    _log("aiokafka", logging.WARNING, "Heartbeat failed for group %s", "router", at=at + 60)
    written = _written(out)
    assert len(written) == 2
    assert written[1]["repeated"] == 4
