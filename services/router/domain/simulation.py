"""What-if simulation for the commissioning team: the same referrals decided under a
baseline and a candidate policy version, compared: routes per service, statuses, and per rule
how often it fired under each version and how many decisions it changed. Ids and coded facts
only."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.codes import Service
from schemas.events import ReferralFacts
from services.router.domain.decision import Decision
from services.router.domain.explanation import route_names
from services.router.domain.policy.engine import CompiledPolicy

MAX_LISTED = 1000
"""Changed referrals listed in one report; the counts always cover every referral."""


@dataclass(frozen=True)
class Referral:
    referral_id: uuid.UUID
    facts: ReferralFacts


def _summary(decision: Decision) -> dict[str, Any]:
    return {
        "status": decision.status.value,
        "reason": decision.reason.value if decision.reason else None,
        "routes": route_names(decision.routes),
        "held_routes": route_names(decision.held_routes),
        "flags": list(decision.flags),
        "priorities": {
            name: route.priority.value
            for name, route in zip(
                route_names(decision.routes + decision.held_routes),
                decision.routes + decision.held_routes,
                strict=True,
            )
        },
    }


def simulate(
    referrals: Iterable[Referral], baseline: CompiledPolicy, candidate: CompiledPolicy
) -> dict[str, Any]:
    counts: dict[str, Counter[str]] = {
        key: Counter() for key in ("routes_before", "routes_after", "held_before", "held_after")
    }
    statuses: dict[str, Counter[str]] = {"before": Counter(), "after": Counter()}
    fired: dict[str, Counter[str]] = {"before": Counter(), "after": Counter()}
    changed_by_rule: Counter[str] = Counter()
    unattributed = 0
    changed: list[dict[str, Any]] = []
    total = 0
    changed_total = 0
    for referral in referrals:
        total += 1
        before, after = baseline.decide(referral.facts), candidate.decide(referral.facts)
        for label, decision in (("before", before), ("after", after)):
            counts[f"routes_{label}"].update(r.service.value for r in decision.routes)
            counts[f"held_{label}"].update(r.service.value for r in decision.held_routes)
            statuses[label][decision.status.value] += 1
            fired[label].update(set(decision.rule_ids))
        old, new = _summary(before), _summary(after)
        if old != new:
            changed_total += 1
            # A changed decision is put down to every rule that fired under one version and
            # not the other; a change with the same rules on both sides is counted apart.
            differing = set(before.rule_ids) ^ set(after.rule_ids)
            changed_by_rule.update(differing)
            unattributed += not differing
            if len(changed) < MAX_LISTED:
                changed.append(
                    {
                        "referral_id": str(referral.referral_id),
                        "facts": referral.facts.model_dump(mode="json", exclude={"referral_id"}),
                        "before": old,
                        "after": new,
                    }
                )
    return {
        "baseline_version": baseline.id,
        "candidate_version": candidate.id,
        "referrals": total,
        "services": {
            s.value: {
                "routes_before": counts["routes_before"][s.value],
                "routes_after": counts["routes_after"][s.value],
                "change": counts["routes_after"][s.value] - counts["routes_before"][s.value],
                "held_before": counts["held_before"][s.value],
                "held_after": counts["held_after"][s.value],
            }
            for s in Service
        },
        "statuses": {
            status: {"before": statuses["before"][status], "after": statuses["after"][status]}
            for status in sorted(set(statuses["before"]) | set(statuses["after"]))
        },
        "rules": {
            rule_id: {
                "fired_before": fired["before"][rule_id],
                "fired_after": fired["after"][rule_id],
                "decisions_changed": changed_by_rule[rule_id],
            }
            for rule_id in sorted(
                set(fired["before"]) | set(fired["after"]),
                key=lambda r: (-changed_by_rule[r], r),
            )
        },
        "changed_with_the_same_rules": unattributed,
        "changed_count": changed_total,
        "changed": changed,
        "changed_truncated": changed_total > len(changed),
    }
