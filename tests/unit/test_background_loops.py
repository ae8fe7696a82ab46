"""The one background loop (``services/plumbing/loops.py``) every service's periodic work
runs in: a failing pass is logged and counted and the loop carries on, a pass with more to
do runs again at once, a wake-up cuts the pause short, and cancellation stops it."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg
import pytest
from prometheus_client import REGISTRY

from services.plumbing import loops
from services.plumbing.loops import Next

FOREVER = 3600.0
"""A pause no test waits out: a test that reached it would time out instead."""
BOUND = 10.0


def _failures(name: str) -> float:
    return REGISTRY.get_sample_value("hub_background_failures_total", {"loop": name}) or 0.0


class _Steps:
    """Answers each call with the next of ``answers``: a ``Next``, None, or an exception
    to raise."""

    def __init__(self, *answers: Next | BaseException | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> Next | None:
        answer = self.answers[self.calls]
        self.calls += 1
        if isinstance(answer, BaseException):
            raise answer
        return answer


async def test_a_failing_pass_is_logged_and_counted_and_the_loop_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"test-{uuid.uuid4().hex[:6]}"
    steps = _Steps(KeyError("a bug"), asyncpg.CannotConnectNowError("starting"), Next.STOP)
    with caplog.at_level(logging.WARNING, logger=loops.__name__):
        await asyncio.wait_for(loops.every(0.0, steps, name=name), BOUND)
    assert steps.calls == 3
    assert _failures(name) == 2
    bug, unreachable = caplog.records
    assert (bug.levelno, bug.exc_info is not None) == (logging.ERROR, True)
    assert (unreachable.levelno, unreachable.exc_info) == (logging.WARNING, None)
    assert {bug.__dict__["loop"], unreachable.__dict__["loop"]} == {name}


async def test_a_loop_is_counted_from_zero_before_any_failure() -> None:
    name = f"test-{uuid.uuid4().hex[:6]}"
    await asyncio.wait_for(loops.every(FOREVER, _Steps(Next.STOP), name=name), BOUND)
    assert REGISTRY.get_sample_value("hub_background_failures_total", {"loop": name}) == 0.0


async def test_a_pass_with_more_to_do_runs_again_at_once() -> None:
    steps = _Steps(Next.AGAIN, Next.AGAIN, Next.STOP)
    await asyncio.wait_for(loops.every(FOREVER, steps, name="test-again"), BOUND)
    assert steps.calls == 3


async def test_being_woken_cuts_the_pause_short_and_the_wake_up_is_cleared_before_a_pass() -> None:
    wake = asyncio.Event()
    seen: list[bool] = []

    async def step() -> Next:
        seen.append(wake.is_set())
        if len(seen) == 1:
            wake.set()  # something queued during the pass: no pause before the next one
            return Next.WAIT
        return Next.STOP

    await asyncio.wait_for(loops.every(FOREVER, step, name="test-wake", wake=wake), BOUND)
    assert seen == [False, False]


@pytest.mark.parametrize("in_the_pass", [True, False], ids=["in a pass", "in its pause"])
async def test_cancelling_stops_the_loop(in_the_pass: bool) -> None:
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        if in_the_pass:
            await asyncio.Event().wait()

    task = asyncio.create_task(loops.every(FOREVER, step, name="test-cancel"))
    await asyncio.wait_for(started.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _failures("test-cancel") == 0  # a cancellation is no failure
