"""The consumer wrapper's steps on their own (``services/plumbing/kafka.py:Consumer``): how a
fetched batch is cut into runs for the batch handlers, and the one "database down, back
off" loop every handler call goes through."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel

from services.plumbing.kafka import (
    STOPPING,
    Consumer,
    On,
    _Decoded,
    _Origin,
    _Received,
    runs_of_one_type,
    stopping,
)
from services.plumbing.settings import ServiceSettings


async def _nothing(event: Any) -> None:
    return None


async def _nothing_together(events: Any) -> None:
    return None


BATCHED: On[Any] = On(BaseModel, _nothing, _nothing_together)
OTHER_BATCHED: On[Any] = On(BaseModel, _nothing, _nothing_together)
SINGLE: On[Any] = On(BaseModel, _nothing)


def _item(on: On[Any], n: int) -> _Decoded:
    return _Decoded(_Received(b"", None, (), _Origin("t", 0, n)), on, n)


def test_consecutive_events_of_one_batched_type_go_together_in_order() -> None:
    kinds = [BATCHED, BATCHED, SINGLE, SINGLE, BATCHED, OTHER_BATCHED, OTHER_BATCHED, BATCHED]
    runs = runs_of_one_type([_item(on, n) for n, on in enumerate(kinds)])
    assert [[item.event for item in run] for run in runs] == [[0, 1], [2], [3], [4], [5, 6], [7]]
    assert runs_of_one_type([]) == []


class _Broker:
    """Stands for the broker only as the key of its ``stopping`` event."""


def _consumer() -> tuple[Consumer, _Broker]:
    broker = _Broker()
    settings = ServiceSettings.model_construct(consumer_retry_base_seconds=0.001)
    return Consumer(broker, "t", "g", {}, settings), broker  # type: ignore[arg-type]


async def test_work_is_retried_in_place_while_the_database_is_unreachable() -> None:
    consumer, _ = _consumer()
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise asyncpg.CannotConnectNowError("starting up")

    assert await consumer.patiently(work) is None
    assert calls == 4


async def test_any_other_failure_is_handed_back_at_once() -> None:
    consumer, _ = _consumer()

    async def work() -> None:
        raise KeyError("x")

    failure = await consumer.patiently(work)
    assert isinstance(failure, KeyError)


async def test_stopping_ends_the_wait_for_the_database() -> None:
    consumer, broker = _consumer()

    async def work() -> None:
        stopping(broker).set()  # type: ignore[arg-type]
        raise ConnectionRefusedError

    assert await asyncio.wait_for(consumer.patiently(work), timeout=5) is STOPPING


@pytest.mark.parametrize("error", [OSError, asyncpg.CannotConnectNowError])
async def test_every_connection_error_counts_as_the_database_down(error: type[Exception]) -> None:
    consumer, _ = _consumer()
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error("down")

    assert await consumer.patiently(work) is None
