"""An intruder with the published edition of the report and nothing else, trying to work out
every suppressed count.

What the intruder knows is written here from the contract and the README, independently of
the hub's own model of the report (``services/referral_intake/domain/disclosure.py``): a
relationship the hub forgot to protect is one the intruder still uses. The intruder knows
that counts are whole numbers, never negative; that sub-services add up to their service and
services to the totals; that each breakdown adds up to the count it breaks down; that the
completed are among those whose case ended, and so on; and reads every published share,
mean, change and variance back into the counts it came from. For each suppressed cell it
solves two integer programmes (highspy): the least and the most the cell can be, given
everything published.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import highspy

Path = tuple[str, ...]
COUNTS = (
    "referrals",
    "accepted",
    "rejected",
    "acknowledged",
    "engaged",
    "completed",
    "contacted",
    "ended_with_outcome",
    "positive_outcomes",
    "outcomes_with_measures",
    "high_risk_da_referrals",
    "closed_not_contactable",
    "open_caseload_at_end",
    "waiting_list_at_end",
)
WITHIN = {
    "accepted": "referrals",
    "rejected": "referrals",
    "acknowledged": "referrals",
    "engaged": "referrals",
    "contacted": "referrals",
    "ended_with_outcome": "referrals",
    "completed": "ended_with_outcome",
    "closed_not_contactable": "ended_with_outcome",
    "outcomes_with_measures": "ended_with_outcome",
    "positive_outcomes": "outcomes_with_measures",
    "high_risk_da_referrals": "referrals",
}
SHARES = {
    "engagement_rate": (("engaged",), ("referrals",)),
    "positive_outcome_rate": (("positive_outcomes",), ("outcomes_with_measures",)),
    "not_contactable_rate": (("closed_not_contactable",), ("ended_with_outcome",)),
    "contact_within_target_rate": (
        ("clocks", "contact_within_target", "met"),
        ("clocks", "contact_within_target", "judged"),
    ),
    "code_compliance_rate": (
        ("clocks", "code_compliance", "met"),
        ("clocks", "code_compliance", "judged"),
    ),
}


@dataclass
class Knowledge:
    """Linear facts about the report's counts: sum(coefficient * cell) between low and high."""

    cells: set[Path] = field(default_factory=set)
    facts: list[tuple[dict[Path, float], float, float]] = field(default_factory=list)

    def equal(self, total: Path, parts: list[Path]) -> None:
        if total in self.cells and parts and all(p in self.cells for p in parts):
            terms: dict[Path, float] = defaultdict(float)
            terms[total] -= 1
            for part in parts:
                terms[part] += 1
            self.facts.append((dict(terms), 0.0, 0.0))

    def at_most(self, part: Path, whole: Path) -> None:
        if part in self.cells and whole in self.cells:
            self.facts.append(({part: 1.0, whole: -1.0}, -highspy.kHighsInf, 0.0))

    def share(self, rate: float, top: Path, bottom: list[Path]) -> None:
        """A share published to 4 decimal places: top / sum(bottom) = rate +- 0.00005."""
        if top not in self.cells or not all(p in self.cells for p in bottom):
            return
        for sign, slack in ((1.0, 0.00005), (-1.0, 0.00005)):
            terms: dict[Path, float] = defaultdict(float)
            terms[top] += sign
            for part in bottom:
                terms[part] -= sign * (rate + sign * slack)
            self.facts.append((dict(terms), -highspy.kHighsInf, 0.0))


def _leaves(tree: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from _leaves(value, (*prefix, key))
    else:
        yield prefix, tree


def _count_paths(report: Mapping[str, Any]) -> set[Path]:
    """Every count in the report (whole numbers of people), published or not."""
    found: set[Path] = set()
    levels: list[tuple[Path, Mapping[str, Any]]] = [(("totals",), report["totals"])]
    for service, figures in report["services"].items():
        levels.append((("services", service), figures))
        for sub, sub_figures in figures["sub_services"].items():
            levels.append((("services", service, "sub_services", sub), sub_figures))
    for prefix, figures in levels:
        for name in (*COUNTS, "referrals_previous_period"):
            if name in figures:
                found.add((*prefix, name))
        for group in (
            "rejected_by_reason",
            "by_local_authority",
            "by_source",
            "by_age_band",
            "by_priority",
        ):
            for key in figures.get(group, {}):
                found.add((*prefix, group, key))
        for measure in figures.get("outcome_measures", {}):
            found |= {(*prefix, "outcome_measures", measure, k) for k in ("reported", "positive")}
        for clock in figures.get("clocks", {}):
            found |= {(*prefix, "clocks", clock, k) for k in ("met", "judged")}
    found |= {("totals", "intake", k) for k in report["totals"].get("intake", {})}
    for flag in report["totals"].get("statutory_referrals", {}):
        found |= {
            ("totals", "statutory_referrals", flag, k)
            for k in ("raised", "actioned", "outstanding", "withdrawn")
        }
    for path, _ in _leaves(report.get("equality", {}), ("equality",)):
        if path[-1] not in ("from", "to", "recorded_rate"):
            found.add(path)
    return found


def knowledge(published: Mapping[str, Any]) -> tuple[Knowledge, dict[Path, int]]:
    """What the intruder knows, and the counts it can read."""
    k = Knowledge(cells=_count_paths(published))
    shown: dict[Path, int] = {}
    for path in k.cells:
        value: Any = published
        for part in path:
            value = value[part]
        if value is not None:
            shown[path] = int(value)
    services = published["services"]
    levels: list[tuple[Path, Mapping[str, Any]]] = [(("totals",), published["totals"])]
    levels += [(("services", s), f) for s, f in services.items()]
    levels += [
        (("services", s, "sub_services", u), uf)
        for s, f in services.items()
        for u, uf in f["sub_services"].items()
    ]
    for prefix, figures in levels:
        k.equal(
            (*prefix, "rejected"),
            [(*prefix, "rejected_by_reason", r) for r in figures["rejected_by_reason"]],
        )
        for group in ("by_local_authority", "by_source", "by_age_band", "by_priority"):
            if group in figures:
                k.equal((*prefix, "referrals"), [(*prefix, group, c) for c in figures[group]])
        for part, whole in WITHIN.items():
            k.at_most((*prefix, part), (*prefix, whole))
        for measure, m in figures["outcome_measures"].items():
            at = (*prefix, "outcome_measures", measure)
            k.at_most((*at, "positive"), (*at, "reported"))
            if m["rate"] is not None:
                k.share(m["rate"], (*at, "positive"), [(*at, "reported")])
        for clock in figures["clocks"]:
            k.at_most((*prefix, "clocks", clock, "met"), (*prefix, "clocks", clock, "judged"))
        for figure, (top, bottom) in SHARES.items():
            if figures.get(figure) is not None:
                k.share(figures[figure], (*prefix, *top), [(*prefix, *bottom)])
        if figures.get("acceptance_rate") is not None:
            k.share(
                figures["acceptance_rate"],
                (*prefix, "accepted"),
                [(*prefix, "accepted"), (*prefix, "rejected")],
            )
        for figure, target in figures.get("targets", {}).items():
            if target.get("actual") is not None and "per_year" in target:
                k.facts.append(({(*prefix, figure): 1.0}, target["actual"], target["actual"]))
    # Sub-services add up to services, services to totals.
    for service, figures in services.items():
        for path in [
            p for p in k.cells if p[:2] == ("services", service) and p[2] != "sub_services"
        ]:
            rel = path[2:]
            if rel[0] in (
                "by_local_authority",
                "by_source",
                "by_age_band",
                "by_priority",
                "referrals_previous_period",
            ):
                continue
            k.equal(
                path,
                [("services", service, "sub_services", u, *rel) for u in figures["sub_services"]],
            )
    for path in [
        p for p in k.cells if p[0] == "totals" and p[1] not in ("intake", "statutory_referrals")
    ]:
        k.equal(path, [("services", s, *path[1:]) for s in services])
    intake = published["totals"].get("intake", {})
    k.equal(
        ("totals", "intake", "received"),
        [("totals", "intake", n) for n in intake if n != "received"],
    )
    # A statutory referral asked for was made, is waiting, or is no longer needed.
    for flag, figures in published["totals"].get("statutory_referrals", {}).items():
        at = ("totals", "statutory_referrals", flag)
        k.equal((*at, "raised"), [(*at, n) for n in ("actioned", "outstanding", "withdrawn")])
        if figures.get("actioned_rate") is not None:
            k.share(
                figures["actioned_rate"],
                (*at, "actioned"),
                [(*at, "actioned"), (*at, "outstanding")],
            )
    section = published.get("equality")
    if section:
        scopes = [(("equality",), section)] + [
            (("equality", "by_source", s), b) for s, b in section["by_source"].items()
        ]
        for prefix, scope in scopes:
            for name, figures in scope["characteristics"].items():
                at = (*prefix, "characteristics", name)
                k.equal((*at, "recorded"), [(*at, "categories", c) for c in figures["categories"]])
                k.equal(
                    (*at, "referrals"),
                    [(*at, "recorded"), (*at, "prefer_not_to_say"), (*at, "not_asked")],
                )
                k.equal((*prefix, "referrals"), [(*at, "referrals")])
                if figures["recorded_rate"] is not None:
                    k.share(figures["recorded_rate"], (*at, "recorded"), [(*at, "referrals")])
        for path in [p for p in k.cells if p[0] == "equality" and p[1] != "by_source"]:
            k.equal(path, [("equality", "by_source", s, *path[1:]) for s in section["by_source"]])
        if section.get("from") == published.get("from") and section.get("to") == published.get(
            "to"
        ):
            k.equal(("totals", "intake", "received"), [("equality", "referrals")])
    return k, shown


def intervals(published: Mapping[str, Any], targets: set[Path]) -> dict[Path, tuple[float, float]]:
    """For each of ``targets`` (suppressed counts), the least and the most it can be, as
    whole numbers, given everything published. ``inf`` where nothing bounds it."""
    k, shown = knowledge(published)
    hidden = sorted(k.cells - set(shown))
    index = {p: n for n, p in enumerate(hidden)}
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    for _ in hidden:
        h.addVar(0.0, highspy.kHighsInf)
    for column in range(len(hidden)):  # counts are whole numbers
        h.changeColIntegrality(column, highspy.HighsVarType.kInteger)
    for terms, low, high in k.facts:
        constant = sum(w * shown[p] for p, w in terms.items() if p in shown)
        columns = [(index[p], w) for p, w in terms.items() if p in index and w != 0]
        if not columns:
            assert low - 1e-6 <= constant <= high + 1e-6, f"published figures disagree: {terms}"
            continue
        h.addRow(
            low - constant,
            high - constant,
            len(columns),
            [c for c, _ in columns],
            [w for _, w in columns],
        )
    found: dict[Path, tuple[float, float]] = {}
    for path in sorted(targets):
        bounds = []
        for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
            costs = [0.0] * len(hidden)
            costs[index[path]] = 1.0
            h.changeColsCost(len(hidden), list(range(len(hidden))), costs)
            h.changeObjectiveSense(sense)
            h.run()
            status = h.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal:
                bounds.append(float(h.getInfo().objective_function_value))
            elif status in (
                highspy.HighsModelStatus.kUnbounded,
                highspy.HighsModelStatus.kUnboundedOrInfeasible,
            ):
                bounds.append(float("inf"))
            else:
                raise AssertionError(f"{'.'.join(path)}: {h.modelStatusToString(status)}")
        found[path] = (bounds[0], bounds[1])
    return found
