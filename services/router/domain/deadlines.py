"""The three clocks on every route, from the durations the policy chose for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.router.domain.clocks import add_hours, add_working_days
from services.router.domain.decision import Clock, RouteChoice


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    contact_due_by: datetime
    code_deadline: datetime
    second_acknowledge_by: datetime
    """A route still unacknowledged by then, after its escalation, is re-routed."""


def after(start: datetime, clock: Clock) -> datetime:
    if clock.unit == "hours":
        return add_hours(start, clock.amount)
    return add_working_days(start, int(clock.amount))


def deadlines(route: RouteChoice, *, clock_start: datetime, requested_at: datetime) -> Deadlines:
    """``clock_start`` is when the crime was reported (or the referral received): the
    Victims' Code clock runs from then. The provider's clocks run from the request."""
    acknowledge_by = after(requested_at, route.acknowledge)
    return Deadlines(
        acknowledge_by=acknowledge_by,
        contact_due_by=after(requested_at, route.contact),
        code_deadline=after(clock_start, route.code),
        second_acknowledge_by=after(acknowledge_by, route.acknowledge),
    )
