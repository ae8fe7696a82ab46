"""A decision as the contract's explain answer shows it (``POST /v1/assessments/explain``)."""

from __future__ import annotations

from typing import Any

from services.router.domain.decision import Decision, RouteChoice


def route_view(route: RouteChoice, *, held: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "service": route.service.value,
        "sub_service": route.sub_service,
        "priority": route.priority.value,
        "rule_ids": list(route.rule_ids),
        "reason": route.reason,
    }
    if not held:
        view["consent_basis"] = route.consent_basis.value if route.consent_basis else None
    return view


def explain(decision: Decision) -> dict[str, Any]:
    return {
        "policy_version": decision.policy_version,
        "status": decision.status.value,
        "reason": decision.reason.value if decision.reason else None,
        "enhanced_rights": decision.enhanced_rights,
        "da_risk": decision.da_risk,
        "flags": list(decision.flags),
        "routes": [route_view(r) for r in decision.routes],
        "held_routes": [route_view(r, held=True) for r in decision.held_routes],
        "rule_ids": list(decision.rule_ids),
    }


def route_names(routes: tuple[RouteChoice, ...]) -> list[str]:
    return [f"{r.service.value}/{r.sub_service}" for r in routes]
