"""A supervisor's override: adding a route to a service, or removing the open one, with a
justification. The router records it as a decision with rule id ``MANUAL``. Pure: the
handler loads the referral and its open routes, asks these, and saves."""

from __future__ import annotations

from typing import Literal

from schemas.codes import Service, Trigger

OverrideAction = Literal["add", "remove"]

_TRIGGERS: dict[OverrideAction, Trigger] = {
    "add": Trigger.OVERRIDE_ADD,
    "remove": Trigger.OVERRIDE_REMOVE,
}


def refusal(
    action: OverrideAction, service: Service, *, routed: bool, open_routes: int, erased: bool
) -> str | None:
    """Why the override cannot be made, as a sentence for the caller; None when it can.
    ``open_routes`` counts the referral's routes to ``service`` that have not ended: one
    service has at most one open route, so an addition needs none and a removal one."""
    if not routed:
        return "The referral is still being routed; try the override again in a moment."
    if action == "add" and open_routes:
        return f"There is already an open route to {service.value}; remove it first."
    if action == "remove" and not open_routes:
        return f"There is no open route to {service.value} to remove."
    if erased:
        return "This referral's personal data was erased; it can no longer change."
    return None


def trigger(action: OverrideAction) -> Trigger:
    """The re-assessment the override asks for."""
    return _TRIGGERS[action]


def requested_event(action: OverrideAction) -> str:
    """The timeline entry recording the request, before the router's decision arrives."""
    return f"{trigger(action).value}_requested"
