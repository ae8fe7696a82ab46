"""Checks a policy version must pass before the router will use it. Each problem names the
file, the node and rule, and what is wrong, so whoever edited the policy can fix it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import zen

from schemas.codes import Service
from schemas.events import (
    AssessmentFacts,
    Dash,
    DrugPossession,
    IncidentFacts,
    ReferralFacts,
    SubjectFacts,
)
from services.router.domain.policy.engine import CompiledPolicy, PolicyEvaluationError
from services.router.domain.policy.facts import KNOWN_FACTS
from services.router.domain.policy.version import PolicyVersion

_FACT = re.compile(r"\bfacts\.([A-Za-z_][A-Za-z0-9_]*)")
_PARAM = re.compile(r"\bparams\.([A-Za-z_][A-Za-z0-9_]*)")
_SERVICE_LITERAL = re.compile(r"""\bservice\s*:\s*"([^"]*)\"""")
_SERVICES = {s.value for s in Service}


@dataclass(frozen=True)
class Problem:
    file: str
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.problem}"


class PolicyInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _cells(graph: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """Every expression in the graph: (node name, rule or expression id, column field, text)."""
    for node in graph.get("nodes", []):
        name, content = node.get("name", node.get("id", "?")), node.get("content") or {}
        if content.get("inputField"):
            yield name, "input field", "", content["inputField"]
        if node.get("type") == "decisionTableNode":
            fields = {
                c["id"]: c.get("field", "")
                for c in content.get("inputs", []) + content.get("outputs", [])
            }
            for column in content.get("inputs", []):
                if column.get("field"):
                    yield name, f"column {column.get('name')}", "", column["field"]
            for rule in content.get("rules", []):
                for column_id, text in rule.items():
                    if not column_id.startswith("_") and isinstance(text, str) and text:
                        yield name, f"rule {rule.get('_id', '?')}", fields.get(column_id, ""), text
        elif node.get("type") == "expressionNode":
            for expression in content.get("expressions", []):
                yield (
                    name,
                    f"expression {expression.get('key')}",
                    expression.get("key", ""),
                    expression.get("value", ""),
                )


def static_problems(version: PolicyVersion) -> list[Problem]:
    return _graph_problems(version, version.graph, version.graph_file) + _graph_problems(
        version, version.adjustments, version.adjustments_file
    )


def _graph_problems(version: PolicyVersion, graph: dict[str, Any], file: str) -> list[Problem]:
    problems: list[Problem] = []
    try:
        zen.ZenEngine().create_decision(json.dumps(graph)).validate()
    except (RuntimeError, ValueError) as exc:
        problems.append(Problem(file, "graph", f"does not parse: {str(exc).splitlines()[0][:300]}"))
        return problems
    parameters = version.manifest.parameters
    for node, where, field, text in _cells(graph):
        for fact in _FACT.findall(text):
            if fact not in KNOWN_FACTS:
                problems.append(Problem(file, f"{node}, {where}", f"unknown fact 'facts.{fact}'"))
        for parameter in _PARAM.findall(text):
            if parameter not in parameters:
                problems.append(
                    Problem(
                        file,
                        f"{node}, {where}",
                        f"parameter '{parameter}' is not defined in the manifest",
                    )
                )
        services = _SERVICE_LITERAL.findall(text)
        if field == "service":
            services.append(text.strip().strip('"'))
        for service in services:
            if service not in _SERVICES:
                problems.append(Problem(file, f"{node}, {where}", f"unknown service '{service}'"))
    return problems


def _sample(**changes: Any) -> ReferralFacts:
    now = datetime(2026, 11, 16, 10, tzinfo=UTC)
    base: dict[str, Any] = {
        "referral_id": uuid.UUID(int=0),
        "received_at": now,
        "reported_at": now,
        "source": "police_officer",
        "local_authority": "worcestershire",
        "subject": SubjectFacts(role="victim", age=34),
        "incident": IncidentFacts(crime_types=["other"], occurred_at=now),
        "assessment": AssessmentFacts(needs=["emotional_support"]),
        "consent": "given",
    }
    base.update(changes)
    return ReferralFacts(**base)


SAMPLES: dict[str, ReferralFacts] = {
    "victim with needs": _sample(),
    "high-risk domestic abuse, consent refused": _sample(
        incident=IncidentFacts(crime_types=["domestic_abuse", "sexual_offence"]),
        assessment=AssessmentFacts(
            needs=["safety_planning"], dash=Dash(yes_count=16), hospital_setting=True
        ),
        consent="refused",
    ),
    "sexual offence, consent not asked": _sample(
        incident=IncidentFacts(crime_types=["sexual_offence"]), consent="not_asked"
    ),
    "child at risk of exploitation": _sample(
        subject=SubjectFacts(role="at_risk_child", age=12),
        incident=IncidentFacts(crime_types=["child_criminal_exploitation"]),
        assessment=AssessmentFacts(
            needs=["none"], cce_indicators=["county_lines"], threat_to_life=True
        ),
    ),
    "suspect found in possession": _sample(
        subject=SubjectFacts(role="suspect", age=15),
        incident=IncidentFacts(
            crime_types=["drug_possession"],
            drug_possession=DrugPossession(
                personal_use=True,
                intent_to_supply_suspected=False,
                previously_disengaged_from_diversion=False,
            ),
        ),
        assessment=AssessmentFacts(needs=["none"]),
        consent="not_asked",
    ),
    "witness with no need": _sample(
        subject=SubjectFacts(role="witness", age=40), assessment=AssessmentFacts(needs=["none"])
    ),
    "forced marriage, professional judgement only, consent refused": _sample(
        subject=SubjectFacts(role="victim", age=17),
        incident=IncidentFacts(crime_types=["forced_marriage", "honour_based_abuse"]),
        assessment=AssessmentFacts(
            needs=["safety_planning"],
            dash=Dash(yes_count=None, professional_judgement_high=True),
            children_in_household=2,
        ),
        consent="refused",
    ),
    "eyewitness to a homicide, stalked, consent not asked": _sample(
        subject=SubjectFacts(role="witness", age=52, vulnerabilities=["mental_health"]),
        incident=IncidentFacts(crime_types=["serious_violence", "stalking"], homicide=True),
        consent="not_asked",
    ),
    "young adult suspect with signs of exploitation": _sample(
        subject=SubjectFacts(role="suspect", age=19),
        incident=IncidentFacts(
            crime_types=["drug_possession", "modern_slavery"],
            drug_possession=DrugPossession(
                personal_use=True,
                intent_to_supply_suspected=False,
                previously_disengaged_from_diversion=False,
            ),
        ),
        assessment=AssessmentFacts(needs=["none"], cce_indicators=["county_lines"]),
    ),
}
"""Referrals every policy must decide without failing: one per branch of version 1, and the
facts version 2 added."""


ADJUSTMENT_SAMPLES: dict[str, dict[str, Any]] = {
    "ISVA rejects for capacity": {
        "trigger": "route_rejected",
        "service": "ISVA",
        "priority": "high",
        "rejection_reason": "capacity",
    },
    "VAL rejects": {
        "trigger": "route_rejected",
        "service": "VAL",
        "priority": "standard",
        "rejection_reason": "out_of_area",
    },
    "IDVA misses its acknowledgement twice": {
        "trigger": "sla_reroute",
        "service": "IDVA",
        "priority": "urgent",
    },
    "a supervisor adds CLIMB": {
        "trigger": "override_add",
        "service": "CLIMB",
        "sub_service": None,
        "priority": None,
    },
}
"""Changes after routing every policy must decide without failing."""

_FAILURES = (PolicyEvaluationError, KeyError, ValueError, TypeError)


def evaluation_problems(policy: CompiledPolicy) -> list[Problem]:
    problems = []
    for name, facts in SAMPLES.items():
        try:
            policy.decide(facts)
        except _FAILURES as exc:
            where = f"sample referral '{name}'"
            problems.append(
                Problem(policy.version.graph_file, where, f"could not be decided: {exc}")
            )
    for name, change in ADJUSTMENT_SAMPLES.items():
        try:
            policy.adjust(change, SAMPLES["victim with needs"])
        except _FAILURES as exc:
            where = f"sample change '{name}'"
            problems.append(
                Problem(policy.version.adjustments_file, where, f"could not be decided: {exc}")
            )
    return problems


def check(version: PolicyVersion) -> CompiledPolicy:
    """The compiled policy, or ``PolicyInvalid`` listing every problem found."""
    problems = static_problems(version)
    if problems:
        raise PolicyInvalid(problems)
    policy = CompiledPolicy(version)
    problems = evaluation_problems(policy)
    if problems:
        raise PolicyInvalid(problems)
    return policy
