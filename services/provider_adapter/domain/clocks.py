"""A work item's two clocks as its provider sees them: acknowledge by ``acknowledge_by``,
make first contact by ``contact_due_by`` (both set by the routing policy, contract "Provider
API"). Pure: the caller passes the time.

A clock is *met* once its step is done (the route was accepted or rejected; someone was
reached), *stopped* when the route ended without it, otherwise *running* (due in, or
overdue by, some time: a running clock past its time is a breach).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.codes import TERMINAL_ROUTE_STATUSES, RouteStatus

AWAITING_ACKNOWLEDGEMENT = frozenset(
    {RouteStatus.REQUESTED, RouteStatus.RECEIVED, RouteStatus.ESCALATED}
)
CONTACT_MADE = frozenset({RouteStatus.IN_PROGRESS, RouteStatus.COMPLETED})


class ClockState(StrEnum):
    RUNNING = "running"
    MET = "met"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Clock:
    state: ClockState
    due: datetime
    remaining: timedelta
    """``due - now``: negative once overdue. Meaningful only while running."""

    @property
    def breached(self) -> bool:
        return self.state is ClockState.RUNNING and self.remaining <= timedelta(0)


def acknowledgement_clock(status: RouteStatus, due: datetime, now: datetime) -> Clock:
    if status in AWAITING_ACKNOWLEDGEMENT:
        state = ClockState.RUNNING
    elif status in (RouteStatus.CANCELLED,):
        state = ClockState.STOPPED
    else:
        state = ClockState.MET
    return Clock(state, due, due - now)


def contact_clock(status: RouteStatus, due: datetime, now: datetime) -> Clock:
    if status in CONTACT_MADE:
        state = ClockState.MET
    elif status in TERMINAL_ROUTE_STATUSES:
        state = ClockState.STOPPED
    else:
        state = ClockState.RUNNING
    return Clock(state, due, due - now)


def in_words(delta: timedelta) -> str:
    """A duration as a caseworker reads it, rounded down to its largest sensible unit:
    ``45 seconds`` is ``less than a minute``; ``3 hours 20 minutes`` is ``3 hours``;
    ``1 day 5 hours`` is ``1 day 5 hours``; ``4 days 2 hours`` is ``4 days``."""
    seconds = abs(int(delta.total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400

    def unit(n: int, name: str) -> str:
        return f"{n} {name}" if n == 1 else f"{n} {name}s"

    if minutes < 1:
        return "less than a minute"
    if hours < 1:
        return unit(minutes, "minute")
    if days < 1:
        return unit(hours, "hour")
    if days < 3 and hours % 24:
        return f"{unit(days, 'day')} {unit(hours % 24, 'hour')}"
    return unit(days, "day")


def describe(clock: Clock) -> str:
    """``due in 3 hours``, ``overdue by 20 minutes``; for a clock no longer running, what
    became of it is the caller's to say."""
    if clock.remaining > timedelta(0):
        return f"due in {in_words(clock.remaining)}"
    return f"overdue by {in_words(clock.remaining)}"
