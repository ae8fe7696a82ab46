"""The three clocks on every route (routing-policy.md, "Priorities and clocks")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.codes import Priority, Service
from services.router.domain.clocks import add_hours, add_working_days
from services.router.domain.decision import RouteChoice

CODE_DAYS = 2
ACK_URGENT_HOURS = 4
ACK_WORKING_DAYS = 1
IDVA_HIGH_RISK_CONTACT_HOURS = 48
CONTACT_WORKING_DAYS = {Service.ISVA: 2, Service.CLIMB: 5, Service.DIVERT: 5}
VAL_CONTACT_WORKING_DAYS = {True: 2, False: 5}


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    contact_due_by: datetime
    code_deadline: datetime


def deadlines(
    route: RouteChoice, *, enhanced: bool, clock_start: datetime, requested_at: datetime
) -> Deadlines:
    """``clock_start`` is when the crime was reported (or the referral received): the Code's
    clock runs from then. The provider's clocks run from when the route was requested."""
    if route.priority is Priority.URGENT:
        acknowledge_by = add_hours(requested_at, ACK_URGENT_HOURS)
    else:
        acknowledge_by = add_working_days(requested_at, ACK_WORKING_DAYS)
    if route.service is Service.IDVA and "R-IDVA-HIGH-RISK" in route.rule_ids:
        contact_due_by = add_hours(requested_at, IDVA_HIGH_RISK_CONTACT_HOURS)
    elif route.service is Service.VAL:
        contact_due_by = add_working_days(requested_at, VAL_CONTACT_WORKING_DAYS[enhanced])
    else:
        contact_due_by = add_working_days(requested_at, CONTACT_WORKING_DAYS.get(route.service, 5))
    return Deadlines(
        acknowledge_by=acknowledge_by,
        contact_due_by=contact_due_by,
        code_deadline=add_working_days(clock_start, CODE_DAYS),
    )
