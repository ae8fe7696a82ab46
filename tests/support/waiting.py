"""Waiting on a condition with a deadline: the only way tests wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class TimedOut(AssertionError):
    pass


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise TimedOut(
        f"gave up after {timeout:.0f}s waiting for {what or probe}; last value: {last!r}"
    )


def eventually_sync(
    probe: Callable[[], T | None], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise TimedOut(
        f"gave up after {timeout:.0f}s waiting for {what or probe}; last value: {last!r}"
    )


async def until(predicate: Callable[[], object], *, timeout: float = 20.0, what: str = "") -> None:
    """Wait, yielding to the event loop, until ``predicate()`` is truthy."""

    async def probe() -> bool:
        return bool(predicate())

    await eventually(probe, timeout=timeout, what=what)
