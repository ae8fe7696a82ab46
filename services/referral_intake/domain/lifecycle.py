"""How a referral's own status follows from its decision and its routes."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.codes import TERMINAL_ROUTE_STATUSES, ReferralStatus, RouteStatus


def referral_status(
    decided: ReferralStatus | None, route_statuses: Iterable[RouteStatus], has_held_routes: bool
) -> ReferralStatus:
    """``received`` until decided; ``closed`` once it has had routes, every one has ended
    and nothing waits for consent (routes cancelled when consent was withdrawn included);
    otherwise what the latest decision said."""
    if decided is None:
        return ReferralStatus.RECEIVED
    statuses = list(route_statuses)
    every_route_ended = bool(statuses) and all(s in TERMINAL_ROUTE_STATUSES for s in statuses)
    if every_route_ended and not has_held_routes:
        return ReferralStatus.CLOSED
    return decided


def is_open(status: RouteStatus) -> bool:
    """An open route may still lead to contact, so its provider may read contact details."""
    return status not in TERMINAL_ROUTE_STATUSES
