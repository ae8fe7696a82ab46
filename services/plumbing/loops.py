"""The one way a service runs work in the background (the SLA watchdog, reconciliation,
retention, webhook delivery, re-keying, the consumer-lag sampler): a step, again and again,
until the task is cancelled.

A step that fails does not end its loop: the failure is logged (a database or broker that
cannot be reached as a warning, anything else as an error with its traceback) and counted in
``hub_background_failures_total{loop}``, and the step is tried again after the pause.
A step says what comes next by what it returns (``Next``): the pause (``None`` or
``Next.WAIT``), once more at once (``Next.AGAIN``: it did a batch and there may be more), or
the end (``Next.STOP``: a one-off job that is done).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable

from services.plumbing.db import CONNECTION_ERRORS
from services.plumbing.metrics import BACKGROUND_FAILURES

log = logging.getLogger(__name__)


class Next(enum.Enum):
    """What a background step asks for next."""

    WAIT = "wait"
    """Pause for the loop's interval (or until woken)."""
    AGAIN = "again"
    """Run again at once: the step did a batch and there may be more."""
    STOP = "stop"
    """The loop ends: there is nothing more for it to do."""


Step = Callable[[], Awaitable[Next | None]]


async def every(
    seconds: float,
    step: Step,
    *,
    name: str,
    wake: asyncio.Event | None = None,
    unreachable: tuple[type[BaseException], ...] = CONNECTION_ERRORS,
) -> None:
    """Run ``step`` every ``seconds`` (a float, seconds between the end of one step and the
    start of the next) until cancelled or it returns ``Next.STOP``. ``name`` labels the
    loop in logs and in ``hub_background_failures_total``. ``wake``, when given, cuts a
    pause short when set (something was queued for the step), and is cleared before each
    step. ``unreachable``: errors that mean a dependency is down (logged as a warning, no
    traceback). Cancellation is never caught."""
    BACKGROUND_FAILURES.labels(name)  # from 0, so that the first failure is an increase
    while True:
        if wake is not None:
            wake.clear()
        following = await _attempt(step, name, unreachable)
        if following is Next.STOP:
            return
        if following is Next.AGAIN:
            continue
        await pause(seconds, wake)


async def _attempt(
    step: Step, name: str, unreachable: tuple[type[BaseException], ...]
) -> Next | None:
    """``step``, run once: what it asks for next, or ``Next.WAIT`` after a failure (logged
    and counted)."""
    try:
        return await step()
    except unreachable as exc:
        BACKGROUND_FAILURES.labels(name).inc()
        log.warning(
            "background step could not reach a dependency; will try again",
            extra={"loop": name, "error": type(exc).__name__},
        )
    except Exception as exc:  # a loop outlives a fault in one pass: the next may succeed
        BACKGROUND_FAILURES.labels(name).inc()
        log.error(
            "background step failed; will try again",
            extra={"loop": name, "error": type(exc).__name__},
            exc_info=exc,
        )
    return Next.WAIT


async def pause(seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleep ``seconds``, or less if ``wake`` is set meanwhile."""
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
