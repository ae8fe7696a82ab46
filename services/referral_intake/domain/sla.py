"""The SLA clocks intake's watchdog keeps on every route, and what a breach of each leads to
(contract "SLA and escalation"; the deadlines themselves are set by the routing policy).
Pure: the watchdog finds routes past a deadline and applies what these say.

- ``acknowledge``: ``acknowledge_by`` passes before the provider accepts. The route is
  escalated (its provider is reminded) and is on the supervisor's worklist.
- ``second_acknowledge``: ``second_acknowledge_by`` passes and the route is still
  escalated. The router is asked to re-route it (to VAL, or to the VAL supervisor when VAL
  itself is late).
- ``contact``: ``contact_due_by`` passes with no contact made: the worklist.
- ``code``: the Victims' Code deadline passes before the provider has the referral: a
  compliance event for the commissioner.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.codes import RouteStatus


@dataclass(frozen=True)
class SlaClock:
    name: str
    """The clock's code, as ``referral.sla.v1`` and the timeline carry it."""
    deadline: str
    """The route's column (and ``Route`` field) holding the clock's due time."""
    statuses: tuple[RouteStatus, ...]
    """The route statuses in which the clock runs: in any other, it has been met or stopped."""
    escalates: bool = False
    """A breach escalates the route (``referral.escalated.v1``, a reminder to the provider)."""
    reroutes: bool = False
    """A breach asks the router to re-route (``referral.reassess.v1``, ``sla_reroute``)."""

    @property
    def timeline_event(self) -> str:
        """The timeline entry of a breach."""
        return "escalated" if self.escalates else "sla_breached"

    def runs_in(self, status: str) -> bool:
        return status in {s.value for s in self.statuses}


ACKNOWLEDGE = SlaClock(
    "acknowledge",
    "acknowledge_by",
    (RouteStatus.REQUESTED, RouteStatus.RECEIVED),
    escalates=True,
)
SECOND_ACKNOWLEDGE = SlaClock(
    "second_acknowledge", "second_acknowledge_by", (RouteStatus.ESCALATED,), reroutes=True
)
CONTACT = SlaClock(
    "contact",
    "contact_due_by",
    (RouteStatus.REQUESTED, RouteStatus.RECEIVED, RouteStatus.ACCEPTED, RouteStatus.ESCALATED),
)
CODE = SlaClock("code", "code_deadline", (RouteStatus.REQUESTED, RouteStatus.ESCALATED))
SLA_CLOCKS = (ACKNOWLEDGE, SECOND_ACKNOWLEDGE, CONTACT, CODE)
"""Every clock, in the order the watchdog checks them."""
