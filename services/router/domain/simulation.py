"""What-if simulation for the commissioning team: the same referrals decided under a
baseline and a candidate policy version, compared: routes per service, statuses, and per rule
how often it fired under each version and how many decisions it changed. Ids and coded facts
only."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
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
    tally = _Tally()
    for referral in referrals:
        tally.add(referral, baseline.decide(referral.facts), candidate.decide(referral.facts))
    return {
        "baseline_version": baseline.id,
        "candidate_version": candidate.id,
        "referrals": tally.total,
        "services": tally.services(),
        "statuses": tally.statuses_compared(),
        "rules": tally.rules(),
        "changed_with_the_same_rules": tally.unattributed,
        "changed_count": tally.changed_total,
        "changed": tally.changed,
        "changed_truncated": tally.changed_total > len(tally.changed),
    }


@dataclass
class _Tally:
    """The running counts of a simulation, referral by referral."""

    counts: dict[str, Counter[str]] = field(
        default_factory=lambda: {
            key: Counter() for key in ("routes_before", "routes_after", "held_before", "held_after")
        }
    )
    statuses: dict[str, Counter[str]] = field(
        default_factory=lambda: {"before": Counter(), "after": Counter()}
    )
    fired: dict[str, Counter[str]] = field(
        default_factory=lambda: {"before": Counter(), "after": Counter()}
    )
    changed_by_rule: Counter[str] = field(default_factory=Counter)
    unattributed: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    changed_total: int = 0

    def add(self, referral: Referral, before: Decision, after: Decision) -> None:
        self.total += 1
        for label, decision in (("before", before), ("after", after)):
            self.counts[f"routes_{label}"].update(r.service.value for r in decision.routes)
            self.counts[f"held_{label}"].update(r.service.value for r in decision.held_routes)
            self.statuses[label][decision.status.value] += 1
            self.fired[label].update(set(decision.rule_ids))
        old, new = _summary(before), _summary(after)
        if old == new:
            return
        self.changed_total += 1
        # A changed decision is put down to every rule that fired under one version and
        # not the other; a change with the same rules on both sides is counted apart.
        differing = set(before.rule_ids) ^ set(after.rule_ids)
        self.changed_by_rule.update(differing)
        self.unattributed += not differing
        if len(self.changed) < MAX_LISTED:
            self.changed.append(
                {
                    "referral_id": str(referral.referral_id),
                    "facts": referral.facts.model_dump(mode="json", exclude={"referral_id"}),
                    "before": old,
                    "after": new,
                }
            )

    def services(self) -> dict[str, dict[str, int]]:
        counts = self.counts
        return {
            s.value: {
                "routes_before": counts["routes_before"][s.value],
                "routes_after": counts["routes_after"][s.value],
                "change": counts["routes_after"][s.value] - counts["routes_before"][s.value],
                "held_before": counts["held_before"][s.value],
                "held_after": counts["held_after"][s.value],
            }
            for s in Service
        }

    def statuses_compared(self) -> dict[str, dict[str, int]]:
        before, after = self.statuses["before"], self.statuses["after"]
        return {
            status: {"before": before[status], "after": after[status]}
            for status in sorted(set(before) | set(after))
        }

    def rules(self) -> dict[str, dict[str, int]]:
        """Per rule, most decisions changed first: how often it fired under each version."""
        before, after = self.fired["before"], self.fired["after"]
        return {
            rule_id: {
                "fired_before": before[rule_id],
                "fired_after": after[rule_id],
                "decisions_changed": self.changed_by_rule[rule_id],
            }
            for rule_id in sorted(
                set(before) | set(after), key=lambda r: (-self.changed_by_rule[r], r)
            )
        }


SMALL_COUNT = 5
"""Counts from 1 to ``SMALL_COUNT - 1`` could single a person out and are suppressed in
what commissioners see of a simulation (ONS practice for small cells). The published
edition of the commissioner's report goes further (intake's ``domain/disclosure.py``: a
configurable threshold, 10 by default, and secondary suppression by G-Confid); a
simulation is a working view for the commissioning team, not a publication."""


def suppress_small_counts(
    counts: dict[str, int | None], prefix: str, suppressed: list[str]
) -> dict[str, int | None]:
    """The one place commissioners' simulation figures are protected: each count from 1 to
    ``SMALL_COUNT - 1`` becomes ``None``, its path (``prefix`` + key) added to
    ``suppressed``. Primary suppression only; a statistical-disclosure-control library can
    take this function's place without anything else changing."""
    out: dict[str, int | None] = {}
    for key, value in counts.items():
        if value is not None and 0 < value < SMALL_COUNT:
            out[key] = None
            suppressed.append(f"{prefix}{key}")
        else:
            out[key] = value
    return out


def commissioner_view(report: dict[str, Any]) -> dict[str, Any]:
    """What a commissioner may see of a simulation (issue 25, "data minimisation"): counts
    only, no referral, no facts of one person, no time finer than the period's days. The
    changed referrals are grouped by how their decision changed, one count per change; each
    rule keeps its counts (fired before and after, decisions changed); every count that
    could single a person out is suppressed (``suppressed`` lists their
    paths). The per-referral list is for supervisors."""
    suppressed: list[str] = []
    services = {
        service: _service_counts(service, figures, suppressed)
        for service, figures in report["services"].items()
    }
    statuses = {}
    for status, figures in report["statuses"].items():
        statuses[status] = suppress_small_counts(figures, f"statuses.{status}.", suppressed)
    # By rule id, not by how many decisions each changed: an order would tell which of two
    # suppressed counts is the larger.
    rules = {
        rule_id: suppress_small_counts(figures, f"rules.{rule_id}.", suppressed)
        for rule_id, figures in sorted(report.get("rules", {}).items())
    }
    changes = _changes_grouped(report["changed"], suppressed)
    totals = suppress_small_counts(
        {
            "referrals": report["referrals"],
            "changed_count": report["changed_count"],
            **(
                {"changed_with_the_same_rules": report["changed_with_the_same_rules"]}
                if "changed_with_the_same_rules" in report
                else {}
            ),
        },
        "",
        suppressed,
    )
    return {
        "baseline_version": report["baseline_version"],
        "candidate_version": report["candidate_version"],
        **{k: report[k] for k in ("from", "to") if k in report},
        **totals,
        "services": services,
        "statuses": statuses,
        "rules": rules,
        "changes": changes,
        "changes_truncated": report["changed_truncated"],
        "suppressed": suppressed,
        "small_count_threshold": SMALL_COUNT,
    }


def _service_counts(
    service: str, figures: dict[str, int], suppressed: list[str]
) -> dict[str, int | None]:
    """One service's counts, small ones suppressed; its change only when both counts stand
    (a change beside one suppressed count would give it away)."""
    kept = suppress_small_counts(
        {k: v for k, v in figures.items() if k != "change"},
        f"services.{service}.",
        suppressed,
    )
    before, after = kept["routes_before"], kept["routes_after"]
    change = after - before if before is not None and after is not None else None
    if change is None:
        suppressed.append(f"services.{service}.change")
    return {**kept, "change": change}


def _changes_grouped(changed: list[dict[str, Any]], suppressed: list[str]) -> list[dict[str, Any]]:
    """The changed decisions grouped by how they changed (status and routes, before and
    after), most common first, each with its count of referrals (small ones suppressed)."""
    groups: Counter[tuple[str, str]] = Counter()
    shapes: dict[tuple[str, str], dict[str, Any]] = {}
    for change in changed:
        shape = {
            side: {"status": change[side]["status"], "routes": change[side]["routes"]}
            for side in ("before", "after")
        }
        key = (repr(shape["before"]), repr(shape["after"]))
        groups[key] += 1
        shapes[key] = shape
    changes = []
    for index, (key, count) in enumerate(groups.most_common()):
        counted = suppress_small_counts({"referrals": count}, f"changes.{index}.", suppressed)
        changes.append({**shapes[key], **counted})
    return changes
