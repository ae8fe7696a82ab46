"""Statistical disclosure control for the published edition of the commissioner's report
(contract: ``edition=published``).

The report is a set of linked count tables: a service's count is the sum of its
sub-services', the totals are the sum of the services', a breakdown (by area, source, age,
priority, rejection reason) adds up to the count it breaks down, and equality counts add up
by category, by source and overall. A reader of the published edition knows all of that,
and that counts are never negative, so a small count left out of a table could be worked
out from the totals around it. Protecting it takes two steps, as official statistics do:

1. **Primary suppression** (the threshold rule): every count of people from 1 to
   ``threshold - 1`` is suppressed, and must be protected: a reader of the published figures
   must not be able to rule out that it is ``threshold`` or more (its protection interval,
   in G-Confid's terms its sensitivity, is ``threshold - value``).
2. **Secondary suppression**: enough other cells are suppressed that no primary cell can be
   recovered, or narrowed below its protection, from what is published. The pattern is
   found by G-Confid (``adapters/disclosure_control.py``) from the ``Table`` this module
   describes, then audited.

Zeros are published: a zero singles nobody out. Derived figures (rates, means, medians,
changes, variances against targets) are shown only where every count they come from is
shown and, for a share, neither the people it counts nor those it does not are a small
count (the threshold rule applied to the two cells every share implies).

Sources: ONS, "Policy on protecting confidentiality in tables of birth and death statistics"
and GSS "Disclosure control guidance for tables produced from administrative sources"
(threshold and secondary suppression; ``[c]`` for confidential cells, from the GSS guidance
on symbols in tables); Hundepool et al., *Statistical Disclosure Control* (2012), ch. 4.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.referral_intake.domain.performance import CLOCKS

DEFAULT_THRESHOLD = 10
"""Counts from 1 to 9 are suppressed unless set otherwise (``REPORT_SUPPRESSION_THRESHOLD``):
the threshold of 10 the Safe Data Access Professionals' *Handbook on Statistical Disclosure
Control for Outputs* (2019) gives for frequency tables, and ACRO's default; victims of
domestic abuse, sexual violence and child exploitation in one council area in one quarter
are as sensitive as counts get."""

MARKER = "[c]"
"""How a suppressed cell appears in CSV and in the HTML and PDF tables: the GSS's symbol for
'confidential' (``domain.performance.SUPPRESSED`` writes it)."""

Path = tuple[str, ...]

LEVEL_COUNTS = (
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
"""Counts of people (referrals, routes) at every level of the report."""

SUBSETS = (
    ("accepted", "referrals"),
    ("rejected", "referrals"),
    ("acknowledged", "referrals"),
    ("engaged", "referrals"),
    ("contacted", "referrals"),
    ("ended_with_outcome", "referrals"),
    ("completed", "ended_with_outcome"),
    ("closed_not_contactable", "ended_with_outcome"),
    ("outcomes_with_measures", "ended_with_outcome"),
    ("positive_outcomes", "outcomes_with_measures"),
    ("high_risk_da_referrals", "referrals"),
)
"""Counts a reader knows cannot exceed another at the same level (people counted in one are
among those counted in the other)."""

BREAKDOWNS = ("by_local_authority", "by_source", "by_age_band", "by_priority")
"""Each adds up to the service's ``referrals``."""

RATES: tuple[tuple[str, Path, Path | tuple[Path, Path]], ...] = (
    ("acceptance_rate", ("accepted",), (("accepted",), ("rejected",))),
    ("engagement_rate", ("engaged",), ("referrals",)),
    ("positive_outcome_rate", ("positive_outcomes",), ("outcomes_with_measures",)),
    ("not_contactable_rate", ("closed_not_contactable",), ("ended_with_outcome",)),
    # Each clock's rate: the routes that met it, of those it can be judged for.
    *((f"{clock}_rate", ("clocks", clock, "met"), ("clocks", clock, "judged")) for clock in CLOCKS),
)
"""Share figures: (figure, numerator, denominator); a denominator may be a sum of two."""

MEANS = (
    ("median_hours_to_acknowledge", ("acknowledged",)),
    ("contact_attempts_per_closed_route", ("ended_with_outcome",)),
)
"""Figures about the people a count counts: shown only with that count, at the threshold."""


@dataclass
class Table:
    """The report's counts and what a reader knows about them."""

    cells: dict[Path, int] = field(default_factory=dict)
    equations: list[tuple[Path, tuple[Path, ...]]] = field(default_factory=list)
    """(total, parts): the total is the sum of the parts."""
    bounds: list[tuple[Path, Path]] = field(default_factory=list)
    """(part, whole): the part is at most the whole."""

    def add(self, path: Path, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{'.'.join(path)} is not a count")
        self.cells[path] = value

    def equation(self, total: Path, parts: Iterable[Path]) -> None:
        members = tuple(p for p in parts if p in self.cells)
        if total in self.cells and members:
            self.equations.append((total, members))

    def blocks(self) -> dict[Path, int]:
        """Each cell's connected group: cells no equation or bound links can be suppressed
        and audited apart (smaller problems for the solver)."""
        parent: dict[Path, Path] = {p: p for p in self.cells}

        def root(p: Path) -> Path:
            while parent[p] != p:
                parent[p] = parent[parent[p]]
                p = parent[p]
            return p

        links = [(t, p) for t, ps in self.equations for p in ps] + list(self.bounds)
        for a, b in links:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
        numbers: dict[Path, int] = {}
        return {p: numbers.setdefault(root(p), len(numbers) + 1) for p in self.cells}


def _levels(report: Mapping[str, Any]) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every level of figures: each sub-service, each service, the totals."""
    for service, figures in report["services"].items():
        for sub, sub_figures in figures.get("sub_services", {}).items():
            yield ("services", service, "sub_services", sub), sub_figures
        yield ("services", service), figures
    yield ("totals",), report["totals"]


def _level_counts(figures: Mapping[str, Any]) -> Iterator[Path]:
    for name in LEVEL_COUNTS:
        if name in figures:
            yield (name,)
    for reason in figures.get("rejected_by_reason", {}):
        yield ("rejected_by_reason", reason)
    for measure in figures.get("outcome_measures", {}):
        yield ("outcome_measures", measure, "reported")
        yield ("outcome_measures", measure, "positive")
    for clock in figures.get("clocks", {}):
        yield ("clocks", clock, "met")
        yield ("clocks", clock, "judged")
    for breakdown in BREAKDOWNS:
        for category in figures.get(breakdown, {}):
            yield (breakdown, category)
    if "referrals_previous_period" in figures:
        yield ("referrals_previous_period",)


def _get(tree: Mapping[str, Any], path: Path) -> Any:
    value: Any = tree
    for part in path:
        value = value[part]
    return value


def count_table(report: Mapping[str, Any]) -> Table:
    """The report's counts as cells (keyed by their JSON path), with the sums and bounds
    that link them."""
    table = Table()
    levels = list(_levels(report))
    for prefix, figures in levels:
        for rel in _level_counts(figures):
            table.add(prefix + rel, _get(figures, rel))
    services = report["services"]
    for prefix, figures in levels:
        at = prefix.__add__
        table.equation(
            at(("rejected",)),
            (at(("rejected_by_reason", r)) for r in figures.get("rejected_by_reason", {})),
        )
        for breakdown in BREAKDOWNS:
            table.equation(
                at(("referrals",)), (at((breakdown, c)) for c in figures.get(breakdown, {}))
            )
        for part, whole in SUBSETS:
            if at((part,)) in table.cells and at((whole,)) in table.cells:
                table.bounds.append((at((part,)), at((whole,))))
        for measure in figures.get("outcome_measures", {}):
            table.bounds.append(
                (
                    at(("outcome_measures", measure, "positive")),
                    at(("outcome_measures", measure, "reported")),
                )
            )
        for clock in figures.get("clocks", {}):
            table.bounds.append((at(("clocks", clock, "met")), at(("clocks", clock, "judged"))))
    # Sub-services add up to their service; services to the totals.
    for service, figures in services.items():
        subs = list(figures.get("sub_services", {}))
        for rel in _level_counts(figures):
            if rel[0] in BREAKDOWNS or rel == ("referrals_previous_period",):
                continue
            table.equation(
                ("services", service, *rel),
                (("services", service, "sub_services", sub, *rel) for sub in subs),
            )
    for rel in _level_counts(report["totals"]):
        table.equation(("totals", *rel), (("services", s, *rel) for s in services))
    intake = report["totals"].get("intake")
    if intake:
        for name, value in intake.items():
            table.add(("totals", "intake", name), value)
        table.equation(
            ("totals", "intake", "received"),
            (("totals", "intake", n) for n in intake if n != "received"),
        )
    _equality_cells(table, report)
    _statutory_cells(table, report)
    return table


STATUTORY_COUNTS = ("actioned", "outstanding", "withdrawn")
"""What became of the statutory referrals a flag asked for: they add up to ``raised``."""


def _statutory_cells(table: Table, report: Mapping[str, Any]) -> None:
    """Each statutory flag's counts (``totals.statutory_referrals.<flag>``): a child's
    children's-services referral in one area in one quarter is as small as counts get."""
    for flag, figures in (report["totals"].get("statutory_referrals") or {}).items():
        at = ("totals", "statutory_referrals", flag)
        table.add((*at, "raised"), figures["raised"])
        for name in STATUTORY_COUNTS:
            table.add((*at, name), figures[name])
        table.equation((*at, "raised"), tuple((*at, n) for n in STATUTORY_COUNTS))


def _equality_cells(table: Table, report: Mapping[str, Any]) -> None:
    section = report.get("equality")
    if not section:
        return
    scopes: list[tuple[Path, Mapping[str, Any]]] = [(("equality",), section)]
    scopes += [(("equality", "by_source", s), b) for s, b in section.get("by_source", {}).items()]
    for prefix, scope in scopes:
        table.add((*prefix, "referrals"), scope["referrals"])
        for name, figures in scope["characteristics"].items():
            at = (*prefix, "characteristics", name)
            for key in ("referrals", "recorded", "prefer_not_to_say", "not_asked"):
                table.add((*at, key), figures[key])
            for code, count in figures["categories"].items():
                table.add((*at, "categories", code), count)
            table.equation(
                (*at, "recorded"), ((*at, "categories", c) for c in figures["categories"])
            )
            table.equation(
                (*at, "referrals"),
                ((*at, "recorded"), (*at, "prefer_not_to_say"), (*at, "not_asked")),
            )
            # Every characteristic counts the same referrals.
            table.equation((*prefix, "referrals"), ((*at, "referrals"),))
    sources = [p for p, _ in scopes[1:]]
    for path in [p for p in table.cells if p[:1] == ("equality",) and p[1] != "by_source"]:
        rel = path[1:]
        table.equation(path, ((*s, *rel) for s in sources))
    covers_period = section.get("from") == report.get("from") and section.get("to") == report.get(
        "to"
    )
    if covers_period and ("totals", "intake", "received") in table.cells:
        # Over the same days, both count every new referral.
        table.equation(("totals", "intake", "received"), (("equality", "referrals"),))


HEADLINE_WEIGHT = 50
LEVEL_WEIGHT = 5


def weight(path: Path) -> int:
    """How much losing a cell costs the reader, as a multiple of its value: the referrals
    of a service or of all services (and the hub's intake) are the report's headlines; a
    service's other figures come next; sub-services, breakdowns and equality categories
    are what to give up first when something must go."""
    if path[-1] in ("referrals", "referrals_previous_period") and len(path) <= 3:
        return HEADLINE_WEIGHT
    if path[:2] == ("totals", "intake") or path in (("equality", "referrals"),):
        return HEADLINE_WEIGHT
    if path[0] == "totals" or (path[0] == "services" and len(path) == 3):
        return LEVEL_WEIGHT
    return 1


def primary(table: Table, threshold: int) -> dict[Path, int]:
    """The threshold rule: each count from 1 to ``threshold - 1``, with the protection it
    needs (a reader must not be able to rule out ``threshold``)."""
    return {p: threshold - v for p, v in table.cells.items() if 0 < v < threshold}


def _small(count: int, threshold: int) -> bool:
    return 0 < count < threshold


def publish(
    report: Mapping[str, Any], suppressed: Iterable[Path], *, threshold: int
) -> dict[str, Any]:
    """The published edition: ``report`` with every suppressed count, and every figure derived
    from one (or that would single out a few people), set to null and listed in
    ``suppressed`` (dotted JSON paths)."""
    out: dict[str, Any] = copy.deepcopy(dict(report))
    hidden = set(suppressed)
    derived = _DerivedFigures(count_table(report), hidden, threshold)
    for prefix, figures in _levels(report):
        derived.of_level(prefix, figures)
    section = report.get("equality")
    if section:
        derived.of_equality(section)
    derived.of_statutory_referrals(report["totals"].get("statutory_referrals") or {})
    listed = sorted(hidden | derived.paths)
    for path in listed:
        parent = _get(out, path[:-1])
        parent[path[-1]] = None
    out["edition"] = "published"
    out["suppressed"] = [".".join(p) for p in listed]
    out["disclosure_control"] = {
        "threshold": threshold,
        "rule": f"counts from 1 to {threshold - 1} are suppressed, with secondary suppression "
        "so that no suppressed count can be worked out from the figures published",
        "marker_in_csv": MARKER,
    }
    return out


@dataclass
class _DerivedFigures:
    """The figures derived from a suppressed count, or from counts so small that the figure
    would single out a few people: each is withheld with the counts (``paths``)."""

    table: Table
    hidden: set[Path]
    threshold: int
    paths: set[Path] = field(default_factory=set)

    def shown(self, path: Path) -> bool:
        return path in self.table.cells and path not in self.hidden

    def _few(self, part: int, whole: int) -> bool:
        """Whether a rate of ``part`` in ``whole`` would single people out."""
        threshold = self.threshold
        return whole < threshold or _small(part, threshold) or _small(whole - part, threshold)

    def of_level(self, prefix: Path, figures: Mapping[str, Any]) -> None:
        """One level of the report: the hub, a service or a sub-service."""
        self._rates(prefix, figures)
        at = prefix.__add__
        for name, base in MEANS:
            if figures.get(name) is not None and (
                not self.shown(at(base)) or self.table.cells[at(base)] < self.threshold
            ):
                self.paths.add(at((name,)))
        for measure, m in figures.get("outcome_measures", {}).items():
            if m.get("rate") is None:
                continue
            path = at(("outcome_measures", measure))
            if (
                not self.shown((*path, "reported"))
                or not self.shown((*path, "positive"))
                or self._few(m["positive"], m["reported"])
            ):
                self.paths.add((*path, "rate"))
        if figures.get("referrals_change_rate") is not None and not (
            self.shown(at(("referrals",))) and self.shown(at(("referrals_previous_period",)))
        ):
            self.paths.add(at(("referrals_change_rate",)))
        self._targets(prefix, figures)

    def _rates(self, prefix: Path, figures: Mapping[str, Any]) -> None:
        at = prefix.__add__
        for name, numerator, denominator in RATES:
            if figures.get(name) is None:
                continue
            parts = list(denominator) if isinstance(denominator[0], tuple) else [denominator]
            needed = [at(numerator), *(at(p) for p in parts)]
            if not all(self.shown(p) for p in needed):
                self.paths.add(at((name,)))
                continue
            top = self.table.cells[at(numerator)]
            bottom = sum(self.table.cells[at(p)] for p in parts)
            if self._few(top, bottom):
                self.paths.add(at((name,)))

    def _targets(self, prefix: Path, figures: Mapping[str, Any]) -> None:
        """A target's actual and variance go with the figure they are measured on."""
        at = prefix.__add__
        for figure, target in figures.get("targets", {}).items():
            source = at((figure,))
            if (source in self.table.cells and not self.shown(source)) or (
                figure in {r[0] for r in RATES} and at((figure,)) in self.paths
            ):
                for key in ("actual", "variance", "variance_rate"):
                    if key in target:
                        self.paths.add(at(("targets", figure, key)))

    def of_equality(self, section: Mapping[str, Any]) -> None:
        """Each characteristic's recorded rate, overall and by source."""
        scopes: list[tuple[Path, Mapping[str, Any]]] = [(("equality",), section)]
        scopes += [(("equality", "by_source", s), b) for s, b in section["by_source"].items()]
        for prefix, scope in scopes:
            for name, figures in scope["characteristics"].items():
                at_c = (*prefix, "characteristics", name)
                if figures["recorded_rate"] is None:
                    continue
                if (
                    not self.shown((*at_c, "recorded"))
                    or not self.shown((*at_c, "referrals"))
                    or self._few(figures["recorded"], figures["referrals"])
                ):
                    self.paths.add((*at_c, "recorded_rate"))

    def of_statutory_referrals(self, flags: Mapping[str, Any]) -> None:
        for flag, figures in flags.items():
            where = ("totals", "statutory_referrals", flag)
            actioned, outstanding = figures["actioned"], figures["outstanding"]
            if figures.get("actioned_rate") is not None and (
                not self.shown((*where, "actioned"))
                or not self.shown((*where, "outstanding"))
                or self._few(actioned, actioned + outstanding)
            ):
                self.paths.add((*where, "actioned_rate"))
            if figures.get("median_hours_to_action") is not None and (
                not self.shown((*where, "actioned")) or actioned < self.threshold
            ):
                self.paths.add((*where, "median_hours_to_action"))


def internal(report: Mapping[str, Any]) -> dict[str, Any]:
    """The internal edition: exact, for the commissioning team."""
    return {**report, "edition": "internal", "suppressed": []}
