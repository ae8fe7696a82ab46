"""The commissioner's performance report, assembled from aggregate counts: per service and
sub-service, with breakdowns, quarter-on-quarter change and variance against targets; and
the same report flattened to CSV.

Every count is additive (a service's is the sum of its sub-services'; the totals are the sum
of the services'), so each rate is computed from summed numerators and denominators, never
averaged. Only medians come ready-made from the database, per level.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from schemas.codes import (
    STATUTORY_FLAGS,
    LocalAuthority,
    Priority,
    RejectionReason,
    Service,
    Source,
)
from services.referral_intake.domain.equality_report import equality_section
from services.referral_intake.domain.periods import Period, days_in_financial_year

AGE_BANDS = ("0-9", "10-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
"""Age on the day the crime was reported, banded as the projection stores it (migration
005, ``report_age_band``)."""

TOTAL = "all"
"""The CSV's name for the totals row."""


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    for band, upper in zip(AGE_BANDS, (10, 18, 25, 35, 45, 55, 65), strict=False):
        if age < upper:
            return band
    return AGE_BANDS[-1]


COUNTERS = (
    "referrals",
    "accepted",
    "rejected",
    "acknowledged",
    "engaged",
    "completed",
    "contacted",
    "ended_with_outcome",
    "outcomes_with_measures",
    "positive_outcomes",
    "contact_met",
    "contact_judged",
    "code_met",
    "code_judged",
    "high_risk_da",
    "high_risk_48h_met",
    "high_risk_48h_judged",
    "high_risk_72h_met",
    "high_risk_72h_judged",
    "not_contactable",
    "attempts_on_ended",
)
"""The additive counts the database returns per service, sub-service and rejection reason."""

HEADLINE = (
    "referrals",
    "accepted",
    "rejected",
    "engaged",
    "completed",
    "positive_outcome_rate",
    "median_hours_to_acknowledge",
    "contact_within_target_rate",
    "code_compliance_rate",
)
"""The contract's figures, in its order."""

CLOCKS = {
    "contact_within_target": "contact",
    "code_compliance": "code",
    "high_risk_da_contacted_within_48h": "high_risk_48h",
    "high_risk_da_contacted_within_72h": "high_risk_72h",
}
"""The clocks behind the timeliness rates: ``clocks.<clock>.met`` of ``.judged``."""

RATE_TARGETS = (
    "acceptance_rate",
    "engagement_rate",
    "positive_outcome_rate",
    "contact_within_target_rate",
    "code_compliance_rate",
    "high_risk_da_contacted_within_48h_rate",
    "high_risk_da_contacted_within_72h_rate",
)
"""Figures a target can set a rate for (a share, 0 to 1)."""
VOLUME_TARGETS = ("referrals", "accepted", "engaged", "completed")
"""Figures a target can set a yearly volume for (pro-rated to the period)."""


# ---- inputs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Aggregates:
    """What the database answered, as plain rows (mappings)."""

    counts: Sequence[Mapping[str, Any]]
    """service, sub_service, rejection_reason, every name in ``COUNTERS``, and ``measures``:
    each outcome measure's (reported, positive) counts."""
    acknowledgements: Sequence[Mapping[str, Any]]
    """service, sub_service, minutes (from referral to acknowledgement), routes: a histogram,
    from which the median of every level is read to the minute."""
    dimensions: Sequence[Mapping[str, Any]]
    """service, local_authority, source, age_band, priority, referrals."""
    caseload: Sequence[Mapping[str, Any]]
    """service, sub_service, open_caseload, waiting_list (at the end of the period)."""
    previous: Sequence[Mapping[str, Any]]
    """service, referrals (in the previous period)."""
    intake: Sequence[Mapping[str, Any]]
    """status, referrals: every referral received in the period, routed or not."""
    statutory: Sequence[Mapping[str, Any]] = ()
    """flag, raised, actioned, outstanding, withdrawn, median_hours_to_action: the statutory
    flags of the referrals received in the period (migration 040)."""
    equality: Sequence[Mapping[str, Any]] = ()
    """source, characteristic, category, referrals: equality answers over ``equality_months``."""
    equality_months: tuple[date, date] | None = None
    """The first days of the first and last whole months the equality counts cover."""


@dataclass(frozen=True)
class Target:
    service: str
    figure: str
    effective_from: date
    per_year: float | None = None
    """A volume a year, pro-rated to the period."""
    rate: float | None = None
    """A share (0 to 1), compared as it is."""
    source: str = ""


def parse_targets(data: Mapping[str, Any]) -> list[Target]:
    """Targets kept as data (``targets.json``); every mistake is named."""
    found: list[Target] = []
    for n, entry in enumerate(data.get("targets", [])):
        where = f"targets[{n}]"
        service, figure = entry.get("service"), entry.get("figure")
        if service not in Service.__members__:
            raise ValueError(f"{where}: service must be one of {', '.join(Service)}")
        per_year, rate = entry.get("per_year"), entry.get("rate")
        if (per_year is None) == (rate is None):
            raise ValueError(f"{where}: give either per_year (a volume) or rate (a share)")
        if per_year is not None and figure not in VOLUME_TARGETS:
            raise ValueError(f"{where}: a yearly volume is for one of {', '.join(VOLUME_TARGETS)}")
        if rate is not None and (figure not in RATE_TARGETS or not 0 <= rate <= 1):
            raise ValueError(
                f"{where}: a rate between 0 and 1 is for one of {', '.join(RATE_TARGETS)}"
            )
        try:
            effective_from = date.fromisoformat(str(entry.get("effective_from")))
        except ValueError as exc:
            raise ValueError(f"{where}: effective_from must be a date (YYYY-MM-DD)") from exc
        found.append(
            Target(
                service=service,
                figure=figure,
                effective_from=effective_from,
                per_year=float(per_year) if per_year is not None else None,
                rate=float(rate) if rate is not None else None,
                source=str(entry.get("source", "")),
            )
        )
    return found


def targets_in_force(targets: Iterable[Target], period: Period) -> dict[tuple[str, str], Target]:
    """For each service and figure, the latest target in force by the end of the period."""
    chosen: dict[tuple[str, str], Target] = {}
    for target in sorted(targets, key=lambda t: t.effective_from):
        if target.effective_from <= period.end:
            chosen[(target.service, target.figure)] = target
    return chosen


def pro_rata(per_year: float, period: Period) -> float:
    """A yearly volume for the period: a quarter of it per whole quarter, otherwise by days
    of the financial year the period starts in."""
    whole = period.quarters
    if whole is not None:
        return round(per_year * whole[1] / 4, 1)
    year = period.start.year if period.start.month >= 4 else period.start.year - 1
    return round(per_year * period.days / days_in_financial_year(year), 1)


def variance(target: Target, figures: Mapping[str, Any], period: Period) -> dict[str, Any]:
    actual = figures.get(target.figure)
    if target.per_year is not None:
        goal = pro_rata(target.per_year, period)
        gap = None if actual is None else round(actual - goal, 1)
        return {
            "per_year": target.per_year,
            "target": goal,
            "actual": actual,
            "variance": gap,
            "variance_rate": _ratio(gap, goal),
        }
    assert target.rate is not None
    return {
        "target": target.rate,
        "actual": actual,
        "variance": None if actual is None else round(actual - target.rate, 4),
    }


# ---- figures ----------------------------------------------------------------------------
def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def _median_hours(histogram: Mapping[int, int]) -> float | None:
    """The median of the values a histogram counts (the mean of the middle two when even)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    wanted = [(total - 1) // 2, total // 2]  # zero-based positions of the middle value(s)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
    return round(sum(found) / len(found) / 60, 2)


@dataclass
class _Scope:
    """One level of the report (a sub-service, a service or everything)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    rejected_by_reason: dict[str, int] = field(
        default_factory=lambda: {r.value: 0 for r in RejectionReason}
    )
    measures: dict[str, list[int]] = field(default_factory=dict)
    open_caseload: int = 0
    waiting_list: int = 0
    minutes: dict[int, int] = field(default_factory=dict)

    def add_counts(self, row: Mapping[str, Any]) -> None:
        for name in COUNTERS:
            self.counts[name] += int(row.get(name) or 0)
        for name, (reported, positive) in row.get("measures", {}).items():
            if reported:
                self.add_measure(name, int(reported), int(positive))
        reason = row.get("rejection_reason")
        if reason is not None and row.get("rejected"):
            self.rejected_by_reason[reason] = (
                self.rejected_by_reason.get(reason, 0) + row["rejected"]
            )

    def add_measure(self, name: str, reported: int, positive: int) -> None:
        seen = self.measures.setdefault(name, [0, 0])
        seen[0] += reported
        seen[1] += positive

    def figures(self, measure_names: Sequence[str]) -> dict[str, Any]:
        c = self.counts
        names = list(dict.fromkeys([*measure_names, *self.measures]))
        return {
            "referrals": c["referrals"],
            "accepted": c["accepted"],
            "rejected": c["rejected"],
            "engaged": c["engaged"],
            "completed": c["completed"],
            "positive_outcome_rate": _ratio(c["positive_outcomes"], c["outcomes_with_measures"]),
            "median_hours_to_acknowledge": _median_hours(self.minutes),
            "contact_within_target_rate": _ratio(c["contact_met"], c["contact_judged"]),
            "code_compliance_rate": _ratio(c["code_met"], c["code_judged"]),
            "acknowledged": c["acknowledged"],
            "acceptance_rate": _ratio(c["accepted"], c["accepted"] + c["rejected"]),
            "contacted": c["contacted"],
            "engagement_rate": _ratio(c["engaged"], c["referrals"]),
            "ended_with_outcome": c["ended_with_outcome"],
            "positive_outcomes": c["positive_outcomes"],
            "outcomes_with_measures": c["outcomes_with_measures"],
            "high_risk_da_referrals": c["high_risk_da"],
            "high_risk_da_contacted_within_48h_rate": _ratio(
                c["high_risk_48h_met"], c["high_risk_48h_judged"]
            ),
            "high_risk_da_contacted_within_72h_rate": _ratio(
                c["high_risk_72h_met"], c["high_risk_72h_judged"]
            ),
            "closed_not_contactable": c["not_contactable"],
            "not_contactable_rate": _ratio(c["not_contactable"], c["ended_with_outcome"]),
            "contact_attempts_per_closed_route": _ratio(
                c["attempts_on_ended"], c["ended_with_outcome"]
            ),
            "open_caseload_at_end": self.open_caseload,
            "waiting_list_at_end": self.waiting_list,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "outcome_measures": {name: self._measure(name) for name in names},
            "clocks": {
                clock: {"met": c[f"{prefix}_met"], "judged": c[f"{prefix}_judged"]}
                for clock, prefix in CLOCKS.items()
            },
        }

    def _measure(self, name: str) -> dict[str, Any]:
        reported, positive = self.measures.get(name, [0, 0])
        return {"reported": reported, "positive": positive, "rate": _ratio(positive, reported)}


def _breakdowns(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    dims: dict[str, dict[str, int]] = {
        "by_local_authority": {a.value: 0 for a in LocalAuthority},
        "by_source": {s.value: 0 for s in Source},
        "by_age_band": dict.fromkeys(AGE_BANDS, 0),
        "by_priority": {p.value: 0 for p in Priority},
    }
    columns = {
        "by_local_authority": "local_authority",
        "by_source": "source",
        "by_age_band": "age_band",
        "by_priority": "priority",
    }
    for row in rows:
        for name, column in columns.items():
            value = str(row[column])
            dims[name][value] = dims[name].get(value, 0) + int(row["referrals"])
    return dims


def build_report(
    *,
    period: Period,
    previous: Period,
    as_of: datetime,
    caseload_at: datetime,
    data: Aggregates,
    targets: Iterable[Target],
    measures_by_service: Mapping[str, Sequence[str]],
    local_authority: str | None = None,
) -> dict[str, Any]:
    services = [s.value for s in Service]
    figures = _ServiceFigures(
        levels=_scopes(data, services),
        period=period,
        measures_by_service=measures_by_service,
        every_measure=list(
            dict.fromkeys(name for s in services for name in measures_by_service.get(s, ()))
        ),
        previous_counts={row["service"]: int(row["referrals"]) for row in data.previous},
        in_force=targets_in_force(targets, period),
    )
    report_services = {
        s: figures.of(s, (r for r in data.dimensions if r["service"] == s)) for s in services
    }
    totals = figures.of(None, data.dimensions)
    totals["intake"] = _intake_totals(data.intake)
    totals["statutory_referrals"] = statutory_figures(data.statutory)
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "period": period.label,
        "previous_period": {
            "from": previous.start.isoformat(),
            "to": previous.end.isoformat(),
            "period": previous.label,
        },
        "local_authority": local_authority,
        "as_of": as_of.isoformat(),
        "caseload_at": caseload_at.isoformat(),
        "services": report_services,
        "totals": totals,
        "equality": equality_section(data.equality, data.equality_months),
    }


Levels = dict[tuple[str | None, str | None], _Scope]
"""The report's scopes: (None, None) the whole hub, (service, None) one service,
(service, sub-service) one sub-service."""


def _scopes(data: Aggregates, services: list[str]) -> Levels:
    """Every row of counts, caseload and acknowledgement times added to its sub-service,
    its service and the whole hub."""
    levels: Levels = {(None, None): _Scope()}
    for s in services:
        levels[(s, None)] = _Scope()

    def scopes(service: str, sub_service: str) -> list[_Scope]:
        return [
            levels.setdefault((service, sub_service), _Scope()),
            levels.setdefault((service, None), _Scope()),
            levels[(None, None)],
        ]

    for row in data.counts:
        for scope in scopes(row["service"], row["sub_service"]):
            scope.add_counts(row)
    for row in data.caseload:
        for scope in scopes(row["service"], row["sub_service"]):
            scope.open_caseload += int(row["open_caseload"])
            scope.waiting_list += int(row["waiting_list"])
    for row in data.acknowledgements:
        for scope in scopes(row["service"], row["sub_service"]):
            minutes = int(row["minutes"])
            scope.minutes[minutes] = scope.minutes.get(minutes, 0) + int(row["routes"])
    return levels


@dataclass(frozen=True)
class _ServiceFigures:
    """One service's figures (or the whole hub's, for ``None``) from the tallied scopes."""

    levels: Levels
    period: Period
    measures_by_service: Mapping[str, Sequence[str]]
    every_measure: list[str]
    previous_counts: dict[str, int]
    in_force: dict[tuple[str, str], Target]

    def of(self, service: str | None, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        names = self.measures_by_service.get(service, ()) if service else self.every_measure
        levels = self.levels
        figures = levels[(service, None)].figures(names)
        subs = sorted(k[1] for k in levels if k[0] == service and k[1] is not None)
        if service is not None:
            figures["sub_services"] = {sub: levels[(service, sub)].figures(names) for sub in subs}
        figures.update(_breakdowns(rows))
        before = (
            self.previous_counts.get(service, 0)
            if service is not None
            else sum(self.previous_counts.values())
        )
        figures["referrals_previous_period"] = before
        figures["referrals_change_rate"] = _ratio(figures["referrals"] - before, before)
        figures["targets"] = {
            figure: variance(target, figures, self.period)
            for (owner, figure), target in self.in_force.items()
            if owner == service
        }
        return figures


def _intake_totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The referrals received in the period, by where they stand now."""
    by_status = {str(r["status"]): int(r["referrals"]) for r in rows}
    return {
        "received": sum(by_status.values()),
        "routed": by_status.get("routed", 0) + by_status.get("closed", 0),
        "awaiting_consent": by_status.get("awaiting_consent", 0),
        "no_service": by_status.get("no_service", 0),
        "not_yet_decided": by_status.get("received", 0),
    }


def statutory_figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per statutory flag (always all of them), for the referrals received in the period:
    ``raised`` by a decision; ``actioned``, recorded by a supervisor as made; ``outstanding``,
    not yet; ``withdrawn``, no longer raised by a later assessment before anyone acted;
    ``actioned_rate``, actioned of those that stood (actioned and outstanding); and
    ``median_hours_to_action`` from the decision to the referral being made."""
    found = {str(r["flag"]): r for r in rows}
    figures: dict[str, dict[str, Any]] = {}
    for flag in sorted(STATUTORY_FLAGS):
        row = found.get(flag, {})
        actioned, outstanding = int(row.get("actioned") or 0), int(row.get("outstanding") or 0)
        median = row.get("median_hours_to_action")
        figures[flag] = {
            "raised": int(row.get("raised") or 0),
            "actioned": actioned,
            "outstanding": outstanding,
            "withdrawn": int(row.get("withdrawn") or 0),
            "actioned_rate": _ratio(actioned, actioned + outstanding),
            "median_hours_to_action": None if median is None else round(float(median), 2),
        }
    return figures


# ---- CSV ----------------------------------------------------------------------------------
CSV_COLUMNS = ("period", "from", "to", "service", "sub_service", "figure", "value")


def flatten(report: Mapping[str, Any]) -> list[tuple[str, str, str, Any]]:
    """Every figure of the report as (service, sub_service, figure, value): nested figures
    get dotted names (``rejected_by_reason.capacity``); the totals are service ``all``."""
    rows: list[tuple[str, str, str, Any]] = []

    def walk(service: str, sub_service: str, figures: Mapping[str, Any], prefix: str) -> None:
        for key, value in figures.items():
            if key == "sub_services" and not prefix:
                for sub, sub_figures in value.items():
                    walk(service, sub, sub_figures, "")
            elif isinstance(value, Mapping):
                walk(service, sub_service, value, f"{prefix}{key}.")
            else:
                rows.append((service, sub_service, f"{prefix}{key}", value))

    for service, figures in report["services"].items():
        walk(service, "", figures, "")
    walk(TOTAL, "", report["totals"], "")
    section = report.get("equality")
    if section:
        own = {k: v for k, v in section.items() if k not in ("by_source", "from", "to")}
        walk(EQUALITY, "", own, "")
        for source, block in section["by_source"].items():
            walk(EQUALITY, source, block, "")
    return rows


EQUALITY = "equality"
"""The CSV's service for the equality section (its sub-service: the referral source)."""


def csv_key(path: str) -> tuple[str, str, str]:
    """The (service, sub_service, figure) of the CSV row that carries the JSON figure at the
    dotted ``path`` (as the published edition's ``suppressed`` lists them)."""
    parts = path.split(".")
    if parts[0] == "services" and len(parts) > 3 and parts[2] == "sub_services":
        return parts[1], parts[3], ".".join(parts[4:])
    if parts[0] == "services":
        return parts[1], "", ".".join(parts[2:])
    if parts[0] == "totals":
        return TOTAL, "", ".".join(parts[1:])
    if parts[:2] == [EQUALITY, "by_source"]:
        return EQUALITY, parts[2], ".".join(parts[3:])
    return parts[0], "", ".".join(parts[1:])


SUPPRESSED = "[c]"
"""A suppressed figure in CSV: the Government Statistical Service's symbol for confidential."""


def to_csv(report: Mapping[str, Any]) -> str:
    """One row per figure; a figure the published edition suppressed is ``[c]``, a figure
    with nothing to measure is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    period = report.get("period") or ""
    hidden = {csv_key(p) for p in report.get("suppressed", ())}
    for service, sub_service, figure, value in flatten(report):
        cell = (
            SUPPRESSED
            if (service, sub_service, figure) in hidden
            else ""
            if value is None
            else str(value)
        )
        writer.writerow([period, report["from"], report["to"], service, sub_service, figure, cell])
    return out.getvalue()
