"""Evaluate a policy version's decision graph and read its answer back as a ``Decision``.

How evaluation is kept fast (``make bench``; docs/performance.md): each version gets its own
engine whose graphs are loaded and compiled once, and every evaluation goes through the
engine (``ZenEngine.evaluate``), which reuses one runtime. ``ZenDecision.evaluate`` builds a
new async runtime on every call, which costs three times the evaluation itself. The graph is
evaluated as written, with one addition made when it is loaded: a last node that keeps only
what ``read`` needs, instead of every intermediate value (the facts, the parameters and each
table's output, copied into every route) being converted back into Python objects.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import zen

from schemas.codes import ConsentBasis, NoServiceReason, Priority, ReferralStatus, Service
from schemas.events import ReferralFacts
from services.router.domain.decision import Adjustment, Clock, Decision, RouteChoice
from services.router.domain.policy.facts import policy_facts
from services.router.domain.policy.version import PolicyVersion

_PRIORITY_ORDER = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.STANDARD: 2}
_ROUTING, _ADJUSTMENTS = "routing", "adjustments"

ANSWER_NODE_ID = "hub-answer"
ANSWER: dict[str, str] = {
    "derived": "derived",
    "decision.status": "decision.status",
    "decision.reason": "decision.reason",
    "decision.status_rule": "decision.status_rule",
    "decision.dispatched": "len(decision.routes)",
    "route_plan.final": "route_plan.final",
    "flags": "flags",
    "rules": "rules",
}
"""What ``read`` (and ``adjust``) use of the routing graph's answer: key, expression.
``rules`` (optional) lists rules that shaped the decision without a route or flag of their
own, such as one that raised the DA risk or one that kept a route back at the consent gate."""


class PolicyEvaluationError(Exception):
    """The graph failed while deciding (a policy fault, never a fault in the referral)."""


def with_answer_node(graph: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``graph`` in which everything that reached an output node passes first
    through one expression node keeping only ``ANSWER``. The decision tables are unchanged."""
    slim = copy.deepcopy(graph)
    outputs = {n["id"] for n in slim.get("nodes", []) if n.get("type") == "outputNode"}
    if not outputs:
        return slim
    slim["nodes"].append(
        {
            "id": ANSWER_NODE_ID,
            "type": "expressionNode",
            "name": "Answer read by the router",
            "position": {"x": 0, "y": 0},
            "content": {
                "expressions": [
                    {"id": f"{ANSWER_NODE_ID}-{n}", "key": key, "value": value}
                    for n, (key, value) in enumerate(ANSWER.items())
                ],
                "passThrough": False,
                "inputField": None,
                "outputPath": None,
                "executionMode": "single",
            },
        }
    )
    edges = []
    for edge in slim.get("edges", []):
        if edge.get("targetId") in outputs:
            edges.append({**edge, "targetId": ANSWER_NODE_ID})
        else:
            edges.append(edge)
    edges += [
        {
            "id": f"{ANSWER_NODE_ID}-{target}",
            "type": "edge",
            "sourceId": ANSWER_NODE_ID,
            "targetId": target,
        }
        for target in sorted(outputs)
    ]
    slim["edges"] = edges
    return slim


class CompiledPolicy:
    def __init__(self, version: PolicyVersion) -> None:
        self.version = version
        # One engine per version, holding its two graphs: loaded and compiled once here.
        self._engine = zen.ZenEngine(
            {
                "loader": {
                    "type": "static",
                    "content": {
                        _ROUTING: with_answer_node(version.graph),
                        _ADJUSTMENTS: version.adjustments,
                    },
                }
            }
        )
        self._parameters = dict(version.manifest.parameters)

    @property
    def id(self) -> str:
        return self.version.version

    def evaluate(self, facts: dict[str, Any]) -> dict[str, Any]:
        """The graph's answer for prepared facts (see ``facts.policy_facts``): ``derived``,
        ``decision`` (status, reason, status_rule, the number of routes dispatched),
        ``route_plan.final`` and ``flags`` (see ``ANSWER``)."""
        try:
            answer = self._engine.evaluate(_ROUTING, {"facts": facts, "params": self._parameters})
        except RuntimeError as exc:
            raise PolicyEvaluationError(_engine_message(exc)) from exc
        result: dict[str, Any] = answer["result"]
        return result

    def decide(self, facts: ReferralFacts) -> Decision:
        return self.read(self.evaluate(policy_facts(facts)))

    def adjust(self, change: dict[str, Any], facts: ReferralFacts) -> Adjustment:
        """Evaluate the adjustments graph for ``change`` (trigger, service, sub_service,
        priority, rejection_reason), with the referral's derived facts from the routing graph."""
        derived = self.evaluate(policy_facts(facts))["derived"]
        try:
            answer = self._engine.evaluate(
                _ADJUSTMENTS, {"change": change, "derived": derived, "params": self._parameters}
            )
        except RuntimeError as exc:
            raise PolicyEvaluationError(_engine_message(exc)) from exc
        adjusted = answer["result"]["adjustment"]
        route = None
        if adjusted.get("service"):
            route = RouteChoice(
                service=Service(adjusted["service"]),
                sub_service=adjusted["sub_service"],
                priority=Priority(adjusted["priority"]),
                rule_ids=(adjusted["rule_id"],),
                reason=adjusted["reason"],
                consent_basis=None,
                acknowledge=Clock(
                    adjusted["acknowledge_unit"], float(adjusted["acknowledge_amount"])
                ),
                contact=Clock(adjusted["contact_unit"], float(adjusted["contact_amount"])),
                code=Clock(adjusted["code_unit"], float(adjusted["code_amount"])),
            )
        return Adjustment(
            policy_version=self.id,
            rule_id=adjusted["rule_id"],
            reason=adjusted["reason"],
            route=route,
            flag=adjusted.get("flag"),
        )

    def read(self, result: dict[str, Any]) -> Decision:
        derived, decided = result["derived"], result["decision"]
        plan = result["route_plan"]["final"]
        dispatched = int(decided["dispatched"])
        routes = _one_per_service(_route(item) for item in plan[:dispatched])
        held = _one_per_service(_route(item, held=True) for item in plan[dispatched:])
        flags = tuple(dict.fromkeys(f["flag"] for f in result.get("flags") or []))
        fired = [r for choice in routes + held for r in choice.rule_ids]
        fired += [f["rule_id"] for f in result.get("flags") or []]
        fired += [r for r in result.get("rules") or [] if r]
        if decided.get("status_rule"):
            fired.append(decided["status_rule"])
        return Decision(
            policy_version=self.id,
            status=ReferralStatus(decided["status"]),
            reason=NoServiceReason(decided["reason"]) if decided.get("reason") else None,
            enhanced_rights=bool(derived["enhanced_rights"]),
            da_risk=derived["da_risk"] if derived["domestic_abuse"] else None,
            flags=flags,
            routes=routes,
            held_routes=held,
            rule_ids=tuple(dict.fromkeys(fired)),
        )


def _route(item: dict[str, Any], *, held: bool = False) -> RouteChoice:
    route = item["route"]
    rule_ids = [route["rule_id"]]
    reason = route["reason"]
    priority_rule = item.get("priority_rule")
    if priority_rule and priority_rule not in rule_ids:
        rule_ids.append(priority_rule)
        if item.get("priority_reason"):
            reason = f"{reason}; {item['priority_reason']}"
    basis = route.get("consent_basis")
    return RouteChoice(
        service=Service(route["service"]),
        sub_service=route["sub_service"],
        priority=Priority(item["priority"]),
        rule_ids=tuple(rule_ids),
        reason=reason,
        consent_basis=None if held or basis is None else ConsentBasis(basis),
        acknowledge=Clock(item["acknowledge_unit"], float(item["acknowledge_amount"])),
        contact=Clock(item["contact_unit"], float(item["contact_amount"])),
        code=Clock(item["code_unit"], float(item["code_amount"])),
    )


def _one_per_service(choices: Iterable[RouteChoice]) -> tuple[RouteChoice, ...]:
    """A referral has at most one route per service. When several rules route to the same
    service, the route keeps the first rule's sub-service and clocks (the graph lists the
    most specific rules first), every rule id and reason, and the highest priority."""
    merged: dict[Service, RouteChoice] = {}
    for choice in choices:
        first = merged.get(choice.service)
        if first is None:
            merged[choice.service] = choice
            continue
        merged[choice.service] = replace(
            first,
            priority=min(first.priority, choice.priority, key=_PRIORITY_ORDER.__getitem__),
            rule_ids=tuple(dict.fromkeys(first.rule_ids + choice.rule_ids)),
            reason=first.reason
            if choice.reason in first.reason
            else f"{first.reason}; {choice.reason}",
        )
    return tuple(merged.values())


def _engine_message(exc: RuntimeError) -> str:
    text = str(exc)
    try:
        detail = json.loads(text.split("\n", 1)[0])
    except ValueError:
        return text.split("\n", 1)[0][:500]
    if isinstance(detail, dict):
        return str(detail.get("source") or detail)[:500]
    return str(detail)[:500]
