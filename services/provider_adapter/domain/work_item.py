"""A route's life at its provider (contract, "Route lifecycle"), as pure transitions.

Each function takes the current status and returns the next one, or raises
``TransitionNotAllowed`` with a sentence the provider's staff can act on.
"""

from __future__ import annotations

from schemas.codes import (
    TERMINAL_ROUTE_STATUSES,
    ContactResult,
    OutcomeStatus,
    RouteStatus,
)
from schemas.refusals import Refused

PRIORITY_RANK = {"urgent": 0, "high": 1, "standard": 2}
"""Most urgent first in the provider's queue."""


class TransitionNotAllowed(Refused):
    """The work item's state does not allow the step (409); the sentence says what would."""


_AWAITING_DECISION = {RouteStatus.REQUESTED, RouteStatus.RECEIVED, RouteStatus.ESCALATED}
_WORKING = {RouteStatus.ACCEPTED, RouteStatus.IN_PROGRESS, RouteStatus.ON_HOLD}


def _ended(status: RouteStatus) -> TransitionNotAllowed:
    return TransitionNotAllowed(
        f"This referral is already {status.value}; nothing more can be recorded on it."
    )


def on_viewed(status: RouteStatus) -> RouteStatus:
    """The provider has the work item in hand: a requested route becomes received. An
    escalated route stays escalated: reading is not acknowledging."""
    return RouteStatus.RECEIVED if status is RouteStatus.REQUESTED else status


def on_cancelled(status: RouteStatus) -> RouteStatus:
    """The hub ended the route (consent withdrawn, superseded, re-routed): an open route is
    cancelled; one that has already ended stays as it is."""
    return status if status in TERMINAL_ROUTE_STATUSES else RouteStatus.CANCELLED


def on_escalated(status: RouteStatus) -> RouteStatus:
    """Acknowledgement overdue: a route not yet accepted is escalated."""
    if status in (RouteStatus.REQUESTED, RouteStatus.RECEIVED):
        return RouteStatus.ESCALATED
    return status


def on_acknowledged(status: RouteStatus, *, accepted: bool) -> RouteStatus:
    if status in TERMINAL_ROUTE_STATUSES:
        raise _ended(status)
    if status not in _AWAITING_DECISION:
        raise TransitionNotAllowed(
            f"This referral was already accepted (it is {status.value}); "
            "it cannot be acknowledged again."
        )
    return RouteStatus.ACCEPTED if accepted else RouteStatus.REJECTED


def on_contact_attempt(status: RouteStatus, result: ContactResult) -> RouteStatus:
    if status in TERMINAL_ROUTE_STATUSES:
        raise _ended(status)
    if status not in _WORKING:
        raise TransitionNotAllowed("Accept the referral before recording contact attempts.")
    if result is ContactResult.CONTACTED:
        return RouteStatus.IN_PROGRESS
    if result is ContactResult.UNSAFE:
        return RouteStatus.ON_HOLD
    return status


def on_outcome(status: RouteStatus, outcome: OutcomeStatus) -> RouteStatus:
    if status in TERMINAL_ROUTE_STATUSES:
        raise _ended(status)
    if outcome is OutcomeStatus.CANCELLED:
        return RouteStatus.CANCELLED
    if status not in _WORKING:
        raise TransitionNotAllowed(
            f"Accept the referral before recording a {outcome.value} outcome "
            f"(it is {status.value})."
        )
    return RouteStatus.COMPLETED if outcome is OutcomeStatus.COMPLETED else RouteStatus.FAILED
