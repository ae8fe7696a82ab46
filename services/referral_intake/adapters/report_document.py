"""The performance report (the API's JSON, either edition) as one HTML document for a panel:
headline figures, charts drawn with pygal as inline SVG (no script, no web fonts, nothing
fetched), tables of every figure, the equality section, the contact standard, and what
each figure means. The same HTML is printed to PDF (``report_pdf.py``): its print styles
keep every chart and table on one page and print the edition on every page.

Charts read right at any scale: counts get whole-number ticks (never 0, 0, 1, 1), a chart
with nothing to show is replaced by a sentence, a series with no values gets no legend
entry, and every chart carries a text alternative (``role="img"`` with an ``aria-label``
giving its figures)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pygal
from pygal.style import Style

from schemas import codes, equality
from schemas.calendar import LONDON, england_day

SERVICE_NAMES = {service.value: names.report for service, names in codes.SERVICE_NAMES.items()}
NAMES = {
    # sub-services
    "core": "core",
    "hidva": "hospital IDVA",
    "ypidva": "young people's IDVA",
    "adult": "adults",
    "child": "children",
    "re_referral": "re-referrals",
    "consent_contact": "asking for consent",
    # local authorities
    "herefordshire": "Herefordshire",
    "shropshire": "Shropshire",
    "telford_and_wrekin": "Telford and Wrekin",
    "worcestershire": "Worcestershire",
    "outside_area": "Outside the area",
    # sources
    "police_officer": "Police officer",
    "val": "VAL",
    "self_referral": "Self-referral",
    "hospital": "Hospital",
    "social_care": "Social care",
    "partner_agency": "Partner agency",
    "other_force": "Another force",
    # priorities
    "urgent": "Urgent",
    "high": "High",
    "standard": "Standard",
    # rejection reasons
    "capacity": "No capacity",
    "ineligible": "Not eligible",
    "duplicate": "Duplicate",
    "no_safe_contact": "No safe way to contact",
    "missing_information": "Information missing",
    "other": "Other",
    # outcome measures
    "needs_met": "Needs met",
    "cope_and_recover": "Better able to cope and recover",
    "better_informed": "Better informed",
    "empowered_to_act": "Empowered to act",
    "cjs_experience_improved": "Better experience of criminal justice",
    "cjs_confidence_increased": "More confidence in criminal justice",
    "risk_reduced": "Risk reduced",
    "abuse_ceased_or_reduced": "Abuse ceased or reduced",
    "safety_plan_in_place": "Safety plan in place",
    "education_placement_sustained": "Education placement sustained",
    "diverted_to_activity": "Diverted to positive activity",
    "group_attended": "Attended the group",
    "programme_completed": "Completed the programme",
    # targets
    "referrals": "Referrals",
    "accepted": "Accepted",
    "engaged": "Engaged",
    "completed": "Completed",
    "acceptance_rate": "Accepted, of those acknowledged",
    "engagement_rate": "Engaged, of referrals",
    "positive_outcome_rate": "Positive outcome",
    "contact_within_target_rate": "Contacted within target",
    "code_compliance_rate": "Victims' Code compliance",
    "high_risk_da_contacted_within_48h_rate": "High-risk DA contacted within 48 hours",
    "high_risk_da_contacted_within_72h_rate": "High-risk DA contacted within 72 hours",
}
NAMES["out_of_area"] = "Out of area"
NAMES.update(
    {
        "recorded": "Recorded",
        "prefer_not_to_say": "Prefer not to say",
        "not_asked": "Not asked",
        "closed_not_contactable": "Closed: not contactable",
    }
)


PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")
"""Okabe and Ito's colours, told apart with any colour vision."""
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#222222",
    foreground_strong="#111111",
    foreground_subtle="#bbbbbb",
    opacity="1",
    opacity_hover="0.85",
    colors=PALETTE,
    font_family="'Segoe UI', Arial, Helvetica, sans-serif",
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    value_font_size=12,
    tooltip_font_size=12,
)


def name(code: str) -> str:
    if code in SERVICE_NAMES:
        return SERVICE_NAMES[code]
    return NAMES.get(code, code.replace("_", " ").capitalize())


NONE = "\N{EN DASH}"
"""Shown where there is nothing to measure yet."""


SUPPRESSED = "[c]"
"""A figure the published edition suppressed (the GSS's symbol for confidential)."""


def _count(value: Any) -> str:
    return NONE if value is None else f"{value:,.0f}"


def _percent(value: Any) -> str:
    return NONE if value is None else f"{value * 100:.0f}%"


def _hours(value: Any) -> str:
    return NONE if value is None else f"{value:.1f} h"


def _change(value: Any) -> str:
    return NONE if value is None else f"{value * 100:+.0f}%"


def _day_of(instant: str) -> str:
    """The day in England of an ISO instant, written out."""
    day = england_day(datetime.fromisoformat(instant))
    return f"{day.day} {day:%B %Y}"


def _long_date(text: str) -> str:
    day = date.fromisoformat(text)
    return f"{day.day} {day:%B %Y}"


# ---- charts -------------------------------------------------------------------------------
def count_ticks(top: float) -> list[int]:
    """Whole-number ticks from 0 to at least ``top``, 1, 2 or 5 times a power of ten apart,
    at most 8 steps: a count axis never shows a fraction or the same label twice."""
    top = max(1, math.ceil(top))
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if top / step <= 8:
                return [i * step for i in range(math.ceil(top / step) + 1)]
        magnitude *= 10


PERCENT_TICKS = [0, 20, 40, 60, 80, 100]


def _chart(kind: type[Any], title: str, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "title": title,
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "print_values": True,
        "print_zeroes": False,
        "truncate_label": -1,
        "truncate_legend": -1,
        "margin": 16,
        "margin_bottom": 36,
        "no_data_text": "",
    }
    return kind(**{**settings, **options})


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _svg(chart: Any, alternative: str) -> str:
    """The chart as inline SVG, without the configuration pygal's (absent) tooltip script
    would read (the document has no script at all), announced as one image whose text
    alternative is ``alternative``."""
    rendered: str = chart.render(is_unicode=True)
    rendered = _SCRIPT.sub("", rendered)
    label = html.escape(alternative, quote=True)
    return rendered.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _present(values: Iterable[Any]) -> bool:
    return any(v for v in values if v is not None)


WITHHELD = (
    "Every figure this chart would show is suppressed in the published edition ([c] in the tables)."
)


class _Series:
    """The series of one chart, kept only if they have something to show."""

    def __init__(self, report: Mapping[str, Any]) -> None:
        self.entries: list[tuple[str, list[Any]]] = []
        self.published = report.get("edition") == "published"
        self.withheld = False
        """Some value is missing because the published edition suppressed it."""

    def add(self, label: str, values: list[Any]) -> None:
        self.withheld |= self.published and any(v is None for v in values)
        if _present(values):
            self.entries.append((label, values))

    def nothing(self, empty: str) -> str:
        """The sentence in place of a chart with nothing to show."""
        return _empty(WITHHELD if self.withheld else empty)

    @property
    def top(self) -> float:
        return max((v for _, vs in self.entries for v in vs if v is not None), default=0)

    def describe(self, categories: Sequence[str], fmt: Callable[[Any], str]) -> str:
        parts = []
        for label, values in self.entries:
            shown = [f"{c} {fmt(v)}" for c, v in zip(categories, values, strict=True) if v]
            parts.append(f"{label}: {', '.join(shown)}")
        return "; ".join(parts)


def _empty(sentence: str) -> str:
    return f"<p class='empty'>{html.escape(sentence)}</p>"


def _counts_chart(
    kind: type[Any],
    title: str,
    categories: Sequence[str],
    series: _Series,
    empty: str,
    *,
    stacked: bool = False,
    **options: Any,
) -> str:
    """A chart of counts: whole-number ticks up to the largest bar (or stack)."""
    if not series.entries:
        return series.nothing(empty)
    top = series.top
    if stacked:
        top = max(sum(vs[i] or 0 for _, vs in series.entries) for i in range(len(categories)))
    ticks = count_ticks(top)
    chart = _chart(
        kind,
        title,
        y_labels=ticks,
        range=(0, ticks[-1]),
        value_formatter=lambda v: f"{v:,.0f}",
        show_legend=len(series.entries) > 1 or options.pop("legend", False),
        **options,
    )
    chart.x_labels = list(categories)
    for label, values in series.entries:
        chart.add(label, values)
    return _svg(chart, f"{title}. {series.describe(categories, _count)}.")


def _percent_chart(
    kind: type[Any], title: str, categories: Sequence[str], series: _Series, empty: str, **o: Any
) -> str:
    if not series.entries:
        return series.nothing(empty)
    chart = _chart(
        kind,
        title,
        y_labels=PERCENT_TICKS,
        range=(0, 100),
        value_formatter=lambda v: f"{v:.0f}%",
        show_legend=len(series.entries) > 1,
        **o,
    )
    chart.x_labels = list(categories)
    for label, values in series.entries:
        chart.add(label, values)
    return _svg(chart, f"{title}. {series.describe(categories, lambda v: f'{v:.0f}%')}.")


def _percent_values(values: Iterable[Any]) -> list[float | None]:
    return [None if v is None else round(v * 100, 1) for v in values]


def chart_volumes(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    series = _Series(report)
    series.add("This period", [services[c]["referrals"] for c in codes])
    series.add("Previous period", [services[c]["referrals_previous_period"] for c in codes])
    series.add(
        "Target for the period",
        [services[c]["targets"].get("referrals", {}).get("target") for c in codes],
    )
    return _counts_chart(
        pygal.Bar,
        "Referrals received, against target and the previous period",
        codes,
        series,
        "No referrals were received in this period or the one before.",
        height=420,
        legend=True,
    )


def chart_funnel(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    series = _Series(report)
    for figure, label in (
        ("referrals", "Referred"),
        ("accepted", "Accepted"),
        ("rejected", "Rejected"),
        ("engaged", "Engaged"),
        ("completed", "Completed"),
    ):
        series.add(label, [services[c][figure] for c in codes])
    return _counts_chart(
        pygal.Bar,
        "What happened to the referrals",
        codes,
        series,
        "No referrals were made to a service in this period.",
        height=420,
    )


def chart_rejections(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    series = _Series(report)
    for reason in report["totals"]["rejected_by_reason"]:
        series.add(
            name(reason), [services[c]["rejected_by_reason"].get(reason) or None for c in codes]
        )
    return _counts_chart(
        pygal.HorizontalStackedBar,
        "Rejected referrals, by reason",
        codes,
        series,
        "No referrals were rejected in this period.",
        stacked=True,
        height=340,
        legend=True,
    )


def chart_outcomes(report: Mapping[str, Any]) -> str:
    services = report["services"]
    measures = list(report["totals"]["outcome_measures"])
    series = _Series(report)
    for code, figures in services.items():
        rates = [figures["outcome_measures"].get(m, {}).get("rate") for m in measures]
        series.add(code, _percent_values(rates))
    return _percent_chart(
        pygal.HorizontalBar,
        "Positive outcomes, by measure (share of those recorded)",
        [name(m) for m in measures],
        series,
        "No outcome measures were recorded for the referrals of this period yet.",
        height=max(420, 34 * len(measures) * 2),
    )


def chart_timeliness(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    series = _Series(report)
    for figure, label in (
        ("code_compliance_rate", "Reached the service within the Victims' Code clock"),
        ("contact_within_target_rate", "Contacted within the service's target"),
        ("high_risk_da_contacted_within_48h_rate", "High-risk DA contacted within 48 h"),
        ("high_risk_da_contacted_within_72h_rate", "High-risk DA contacted within 72 h"),
    ):
        series.add(label, _percent_values(services[c][figure] for c in codes))
    return _percent_chart(
        pygal.Bar,
        "Timeliness: share of referrals on time",
        codes,
        series,
        "No clock has run out for the referrals of this period yet: nothing to judge.",
        height=460,
        legend_at_bottom_columns=2,
    )


def chart_acknowledgement(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    values = [services[c]["median_hours_to_acknowledge"] for c in codes]
    if not _present(values):
        series = _Series(report)
        series.add("Median hours", values)
        return series.nothing("No referral of this period has been acknowledged yet.")
    top = max(v for v in values if v is not None)
    ticks = count_ticks(top)
    chart = _chart(
        pygal.HorizontalBar,
        "Median hours from referral to acknowledgement",
        height=320,
        show_legend=False,
        y_labels=ticks,
        range=(0, ticks[-1]),
        value_formatter=lambda v: f"{v:.1f} h",
    )
    chart.x_labels = codes
    chart.add("Median hours", values)
    words = ", ".join(f"{c} {_hours(v)}" for c, v in zip(codes, values, strict=True) if v)
    return _svg(chart, f"Median hours from referral to acknowledgement: {words}.")


def _service_bars(
    report: Mapping[str, Any],
    title: str,
    figures: Sequence[tuple[str, str]],
    empty: str,
    height: int,
) -> str:
    """Bars per service, one series for each (label, figure) of ``figures``; ``empty`` is
    what the chart says instead when there is nothing to draw."""
    services = report["services"]
    codes = list(services)
    series = _Series(report)
    for label, figure in figures:
        series.add(label, [services[c][figure] for c in codes])
    return _counts_chart(pygal.Bar, title, codes, series, empty, height=height, legend=True)


def chart_caseload(report: Mapping[str, Any]) -> str:
    return _service_bars(
        report,
        "Open caseload and waiting list at the end of the period",
        [
            ("Open caseload", "open_caseload_at_end"),
            ("Waiting for first contact", "waiting_list_at_end"),
        ],
        "No cases were open and nobody was waiting at the end of the period.",
        height=380,
    )


def chart_breakdown(report: Mapping[str, Any], figure: str, title: str) -> str:
    services = report["services"]
    categories = list(report["totals"][figure])
    series = _Series(report)
    for code, figures in services.items():
        series.add(code, [figures[figure].get(c) or None for c in categories])
    return _counts_chart(
        pygal.StackedBar,
        title,
        [name(c) for c in categories],
        series,
        f"No referrals to show {title[0].lower() + title[1:]}.",
        stacked=True,
        height=380,
        print_values=False,
        legend=True,
    )


def chart_equality_completeness(report: Mapping[str, Any]) -> str:
    section = report["equality"]
    characteristics = list(section["characteristics"])
    series = _Series(report)
    for key in ("recorded", "prefer_not_to_say", "not_asked"):
        series.add(name(key), [section["characteristics"][c][key] for c in characteristics])
    return _counts_chart(
        pygal.HorizontalStackedBar,
        "Equality monitoring: how complete the recording is",
        [equality.title(c) for c in characteristics],
        series,
        "No referrals were received in the months this section covers.",
        stacked=True,
        height=360,
        legend=True,
    )


def chart_not_contactable(report: Mapping[str, Any]) -> str:
    return _service_bars(
        report,
        "Routes closed because the person could not be contacted",
        [
            ("Closed: not contactable", "closed_not_contactable"),
            ("Ended with an outcome", "ended_with_outcome"),
        ],
        "No route of this period has ended yet.",
        height=360,
    )


# ---- the document -------------------------------------------------------------------------
def _table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    caption: str | None = None,
    css: str | None = None,
) -> str:
    cells = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + f"<th scope='row'>{html.escape(row[0])}</th>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in row[1:])
        + "</tr>"
        for row in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    kind = f" class='{css}'" if css else ""
    # Wrapped, so that print keeps the caption and every row on one page.
    return (
        f"<div class='keep'><table{kind}>{title}<thead><tr>{cells}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


HEADLINE_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("referrals", "Referrals", _count),
    ("accepted", "Accepted", _count),
    ("rejected", "Rejected", _count),
    ("engaged", "Engaged", _count),
    ("completed", "Completed", _count),
    ("positive_outcome_rate", "Positive outcome", _percent),
    ("median_hours_to_acknowledge", "Median to acknowledge", _hours),
    ("contact_within_target_rate", "Contacted in target", _percent),
    ("code_compliance_rate", "Code compliance", _percent),
    ("open_caseload_at_end", "Open caseload", _count),
    ("waiting_list_at_end", "Waiting list", _count),
)


class _Cells:
    """Formats a figure for a table, as ``[c]`` where the published edition suppressed it."""

    def __init__(self, report: Mapping[str, Any]) -> None:
        self.hidden = set(report.get("suppressed") or ())

    def __call__(self, path: Sequence[str], value: Any, fmt: Callable[[Any], str]) -> str:
        if value is None and ".".join(path) in self.hidden:
            return SUPPRESSED
        return fmt(value)

    def figures(
        self,
        path: Sequence[str],
        figures: Mapping[str, Any],
        columns: Iterable[tuple[str, Callable[[Any], str]]],
    ) -> list[str]:
        """Each named figure of ``figures`` (found at ``path`` in the report), formatted."""
        return [self((*path, figure), figures[figure], fmt) for figure, fmt in columns]


def _level_rows(
    report: Mapping[str, Any],
    columns: Sequence[tuple[str, Callable[[Any], str]]],
    *,
    sub_services: bool = True,
) -> list[list[str]]:
    """A row for each service (and each sub-service, unless not wanted) and all services:
    its label, then ``columns`` (figure name, format)."""
    cell = _Cells(report)
    return [
        [label, *cell.figures(path, figures, columns)]
        for label, path, figures in _levels(report)
        if sub_services or len(path) <= 2
    ]


def _levels(report: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...], Mapping[str, Any]]]:
    """(label, JSON path, figures) for each service, its sub-services, and all services."""
    found: list[tuple[str, tuple[str, ...], Mapping[str, Any]]] = []
    for code, figures in report["services"].items():
        found.append((name(code), ("services", code), figures))
        for sub, sub_figures in figures["sub_services"].items():
            found.append((f"    {name(sub)}", ("services", code, "sub_services", sub), sub_figures))
    found.append(("All services", ("totals",), report["totals"]))
    return found


def _headline_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return _level_rows(report, [(figure, fmt) for figure, _, fmt in HEADLINE_COLUMNS])


def _target_rows(report: Mapping[str, Any]) -> list[list[str]]:
    cell = _Cells(report)
    rows = []
    for code, figures in report["services"].items():
        for figure, t in figures["targets"].items():
            at = ("services", code, "targets", figure)
            if "per_year" in t:
                rows.append(
                    [
                        name(code),
                        f"{name(figure)} ({t['per_year']:,.0f} a year)",
                        _count(t["target"]),
                        cell((*at, "actual"), t["actual"], _count),
                        f"{cell((*at, 'variance'), t['variance'], _count)} "
                        f"({cell((*at, 'variance_rate'), t['variance_rate'], _change)})",
                    ]
                )
            else:
                rows.append(
                    [
                        name(code),
                        name(figure),
                        _percent(t["target"]),
                        *cell.figures(at, t, (("actual", _percent), ("variance", _points))),
                    ]
                )
    return rows


def _points(value: Any) -> str:
    return NONE if value is None else f"{value * 100:+.0f} points"


def _volume_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return _level_rows(
        report,
        [
            ("referrals", _count),
            ("referrals_previous_period", _count),
            ("referrals_change_rate", _change),
        ],
        sub_services=False,
    )


def _contact_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return _level_rows(
        report,
        [
            ("ended_with_outcome", _count),
            ("closed_not_contactable", _count),
            ("not_contactable_rate", _percent),
            ("contact_attempts_per_closed_route", _one_decimal),
        ],
        sub_services=False,
    )


STATUTORY_NAMES = {
    "children_services_referral": "Children's social care",
    "marac_referral_required": "MARAC",
    "nrm_referral_required": "National Referral Mechanism (child)",
    "duty_to_notify": "Duty to notify the Home Office (adult)",
    "adult_safeguarding_referral": "Adult safeguarding (Care Act s.42)",
    "risk_assessment_missing": "Missing DA risk assessment obtained",
}


_STATUTORY_COLUMNS = (
    ("raised", _count),
    ("actioned", _count),
    ("outstanding", _count),
    ("withdrawn", _count),
    ("actioned_rate", _percent),
    ("median_hours_to_action", _hours),
)


def _statutory_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """Statutory referrals the policy asked for, and how many staff recorded as made."""
    cell = _Cells(report)
    rows = []
    for flag, f in (report["totals"].get("statutory_referrals") or {}).items():
        at = ("totals", "statutory_referrals", flag)
        rows.append(
            [
                STATUTORY_NAMES.get(flag, name(flag)),
                *cell.figures(at, f, _STATUTORY_COLUMNS),
            ]
        )
    return rows


def _one_decimal(value: Any) -> str:
    return NONE if value is None else f"{value:.1f}"


def _completeness_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """Per source (and all sources): the share recorded for each characteristic."""
    cell = _Cells(report)
    section = report["equality"]
    scopes: list[tuple[str, tuple[str, ...], Any]] = [
        (name(s), ("equality", "by_source", s), b) for s, b in section["by_source"].items()
    ]
    scopes.append(("All sources", ("equality",), section))
    return [
        [label, cell((*path, "referrals"), block["referrals"], _count)]
        + [
            cell(
                (*path, "characteristics", c, "recorded_rate"),
                block["characteristics"][c]["recorded_rate"],
                _percent,
            )
            for c in block["characteristics"]
        ]
        for label, path, block in scopes
    ]


def _equality_tables(report: Mapping[str, Any]) -> str:
    """One table per characteristic: referrals by Census category, then the two ways of
    not being recorded."""
    cell = _Cells(report)
    section = report["equality"]
    tables = []
    for characteristic, figures in section["characteristics"].items():
        at = ("equality", "characteristics", characteristic)
        labels = equality.categories(characteristic)
        rows = [
            [labels[code], cell((*at, "categories", code), count, _count)]
            for code, count in figures["categories"].items()
        ]
        rows += [
            [name(key), cell((*at, key), figures[key], _count)]
            for key in ("prefer_not_to_say", "not_asked")
        ]
        tables.append(
            _table(
                ("Category (2021 Census)", "Referrals"),
                rows,
                caption=equality.title(characteristic),
                css="narrow",
            )
        )
    return "".join(tables)


DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "Referrals",
        "Referrals each service received in the period, counted by the date the hub received "
        "the referral (London time). A referral sent to a service twice (for example offered "
        "again after a rejection) counts once for that service; a referral a service rejected "
        "and the hub sent on counts once for each service.",
    ),
    ("Accepted, rejected", "The service's acknowledgement; rejections are shown by reason."),
    (
        "Engaged",
        "The service reported the person engaged, or (until an outcome says otherwise) made "
        "contact with them.",
    ),
    ("Completed", "Support ended with an outcome recorded as completed."),
    (
        "Positive outcome",
        "Of the cases that ended (completed or failed) with at least one outcome measure "
        "recorded, the share with at least one positive measure. Per measure: the share of "
        "cases where it was recorded that were positive (yes, or improved).",
    ),
    (
        "Median to acknowledge",
        "The middle time from the referral reaching the service to it accepting or "
        "rejecting it, to the minute.",
    ),
    (
        "Contacted in target",
        "Of the referrals whose first-contact deadline has passed (or that were contacted "
        "already), the share the service reached by the deadline. Referrals that ended "
        "before their deadline without contact are not counted.",
    ),
    (
        "High-risk DA 48 h and 72 h",
        "The same, for high-risk domestic abuse, within 48 and 72 hours of the referral.",
    ),
    (
        "Victims' Code compliance",
        "The share of referrals the service had in hand within the Victims' Code referral "
        "clock (2 working days from the crime report).",
    ),
    (
        "Open caseload, waiting list",
        "At the end of the period (or now, if it has not ended): cases accepted and not yet "
        "ended; and referrals not yet ended whose person had not been contacted yet.",
    ),
    (
        "Change, targets",
        "Change on the previous period of the same length. Yearly targets are pro-rated: a "
        "quarter of the year's target for a quarter.",
    ),
)

DEFINITIONS += (
    (
        "Closed: not contactable",
        "Routes the provider closed as failed because the person could not be contacted. A "
        "provider may do so only once its service's contact standard is met (VAL: three "
        "unanswered attempts at different times of day). Attempts per closed route: the "
        "contact attempts recorded on routes that ended with an outcome, on average.",
    ),
    (
        "Equality monitoring",
        "The person's answers, by the 2021 Census categories for England and Wales, counted "
        "once per referral received in the whole months the section covers. Recorded: a "
        "category was given. Prefer not to say: the person was asked and chose not to answer. "
        "Not asked: nobody asked. The answers are kept with the person's other personal data "
        "and counted when the referral arrives; nobody reads them to make this report.",
    ),
)

PUBLISHED_NOTE = (
    "This is the published edition. To protect the people it counts, every count from 1 to "
    "{last} is suppressed, and so are enough other figures that none of them can be worked out "
    "from the totals; a suppressed figure is shown as [c]. Shares, averages and changes are "
    "shown only where the counts behind them are. Charts leave suppressed figures out."
)
INTERNAL_NOTE = (
    "This is the internal edition: exact figures, for the commissioning team. Do not publish "
    "it: use the published edition (edition=published) for a public panel pack."
)

CSS = """
body{font-family:'Segoe UI',Arial,Helvetica,sans-serif;color:#1b1b1b;max-width:1100px;
margin:2rem auto;padding:0 1.5rem;line-height:1.45}
h1{font-size:1.9rem;margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #0072B2;
padding-bottom:.2rem}h3{margin-top:1.6rem}.lede{color:#444;margin-top:0}
.edition{border-left:6px solid #0072B2;background:#eef3f8;padding:.6rem .9rem;margin:1rem 0}
.edition.published{border-color:#009E73;background:#edf7f3}
.edition b{display:block}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1.4rem 0}
.card{flex:1 1 140px;border:1px solid #d0d7de;border-radius:6px;padding:.7rem .9rem;
background:#f7f9fb}
.card b{display:block;font-size:1.7rem;color:#0b4f8a}.card span{font-size:.9rem;color:#333}
figure{margin:1.2rem 0}figure svg{width:100%;height:auto}
figcaption{font-size:.9rem;color:#444}
.empty{border:1px dashed #999;padding:1rem;color:#333;background:#fafafa}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.88rem}
table.narrow{width:auto;min-width:50%}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:right}
th[scope=row],thead th:first-child{text-align:left;white-space:pre}thead th{background:#eef3f8}
caption{text-align:left;font-weight:600;padding:.3rem 0}
dl dt{font-weight:600;margin-top:.6rem}dl dd{margin-left:0}
.note{font-size:.85rem;color:#555}
figure,table,.keep,.edition,.cards,.empty{break-inside:avoid;page-break-inside:avoid}
h2,h3{break-after:avoid;page-break-after:avoid}
@media print{body{margin:0;max-width:none;padding:0}h2{break-before:auto}
figure svg{max-height:15.5cm}}
"""

PRINT_CSS = """
@page{size:A4 landscape;margin:1.8cm 1.6cm 1.6cm;
@top-left{content:"{title}";font-size:8.5pt;color:#444}
@top-right{content:"{edition}";font-size:8.5pt;font-weight:bold;color:#0b4f8a}
@bottom-right{content:"Page " counter(page) " of " counter(pages);font-size:8.5pt;color:#444}}
body{font-size:10pt}table{font-size:8pt}th,td{padding:.22rem .3rem}
"""


def _css_string(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


def render(report: Mapping[str, Any], *, generated_at: datetime, for_print: bool = False) -> str:
    """The report as one HTML document. ``for_print``: with the page rules the PDF is
    printed with (A4 landscape; the title, the edition and the page number on every page)."""
    period = report.get("period")
    span = f"{_long_date(report['from'])} to {_long_date(report['to'])}"
    title = f"Victim services performance, {period.replace('Q', ' Q') if period else span}"
    area = report.get("local_authority")
    published = report.get("edition") == "published"
    edition_label = "Published edition" if published else "Internal edition: not for publication"
    sections = [
        *_volume_sections(report),
        *_referral_sections(report),
        *_outcome_sections(report),
        *_who_sections(report),
        *_equality_sections(report),
        *_reference_sections(report),
    ]
    lede = (
        f"{span}{', ' + name(area) if area else ''}. Referrals are counted by the date "
        "they were received; what happened to them is as it stood on "
        f"{_day_of(report['as_of'])}. Counts only: no personal data."
    )
    page = (
        PRINT_CSS.replace("{title}", _css_string(title)).replace(
            "{edition}", _css_string(edition_label)
        )
        if for_print
        else ""
    )
    return (
        "<!DOCTYPE html><html lang='en-GB'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} ({html.escape(edition_label)})</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{CSS}{page}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='lede'>{html.escape(lede)}</p>"
        f"{_banner(report, edition_label)}"
        f"<div class='cards'>{_cards(report)}</div>"
        + "".join(sections)
        + f"<p class='note'>Made {_day_of(generated_at.isoformat())} at "
        f"{generated_at.astimezone(LONDON):%H:%M} (UK time) "
        "from the referral hub's performance report (GET /v1/reports/performance).</p>"
        "</body></html>"
    )


def _banner(report: Mapping[str, Any], edition_label: str) -> str:
    """Which edition this is, and what that means for the reader."""
    published = report.get("edition") == "published"
    threshold = (report.get("disclosure_control") or {}).get("threshold")
    note = PUBLISHED_NOTE.format(last=(threshold or 10) - 1) if published else INTERNAL_NOTE
    return (
        f"<div class='edition {'published' if published else 'internal'}'>"
        f"<b>{html.escape(edition_label)}</b>{html.escape(note)}</div>"
    )


def _cards(report: Mapping[str, Any]) -> str:
    """The headline figures, one card each."""
    totals = report["totals"]
    cell = _Cells(report)
    intake = totals["intake"]
    cards = (
        (
            cell(("totals", "intake", "received"), intake["received"], _count),
            "referrals received by the hub",
        ),
        (cell(("totals", "referrals"), totals["referrals"], _count), "referrals to services"),
        (
            cell(("totals", "acceptance_rate"), totals["acceptance_rate"], _percent),
            "accepted by the service",
        ),
        (cell(("totals", "engagement_rate"), totals["engagement_rate"], _percent), "engaged"),
        (
            cell(("totals", "positive_outcome_rate"), totals["positive_outcome_rate"], _percent),
            "positive outcome at the end",
        ),
        (
            cell(("totals", "code_compliance_rate"), totals["code_compliance_rate"], _percent),
            "within the Victims' Code clock",
        ),
    )
    return "".join(
        f"<div class='card'><b>{html.escape(v)}</b><span>{html.escape(t)}</span></div>"
        for v, t in cards
    )


def _fig(svg: str, caption: str) -> str:
    """A chart with its caption; an empty chart's sentence as it is."""
    if svg.startswith("<p class='empty'>"):
        return svg
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _volume_sections(report: Mapping[str, Any]) -> list[str]:
    previous = report["previous_period"]
    return [
        "<h2>Volumes against targets</h2>",
        _fig(
            chart_volumes(report),
            "Referrals each service received in the period, beside the previous period "
            f"({_long_date(previous['from'])} to {_long_date(previous['to'])}) and the "
            "target for the period where one is set.",
        ),
        _table(
            ("Service", "Referrals", "Previous period", "Change"),
            _volume_rows(report),
            caption="Referrals and the change on the previous period",
        ),
        _table(
            ("Service", "Target", "Target for the period", "Actual", "Variance"),
            _target_rows(report) or [[NONE, "No targets set", "", "", ""]],
            caption="Variance against targets",
        ),
    ]


def _referral_sections(report: Mapping[str, Any]) -> list[str]:
    """What happened to the referrals, and the statutory referrals staff were asked to make."""
    return [
        "<h2>What happened to the referrals</h2>",
        _fig(
            chart_funnel(report),
            "Each service's referrals, and how many it accepted, "
            "rejected, engaged and completed (so far).",
        ),
        _fig(chart_rejections(report), "Why services rejected referrals."),
        "<h2>Statutory referrals</h2>",
        _table(
            (
                "Referral to",
                "Asked for",
                "Made",
                "Waiting",
                "No longer needed",
                "Made, of those standing",
                "Median to make",
            ),
            _statutory_rows(report) or [[NONE, "", "", "", "", "", ""]],
            caption="Statutory referrals the policy asked staff to make, and those recorded "
            "as made",
        ),
    ]


def _outcome_sections(report: Mapping[str, Any]) -> list[str]:
    """Outcomes, timeliness, contact attempts and caseload."""
    return [
        "<h2>Outcomes</h2>",
        _fig(
            chart_outcomes(report),
            "Of the cases where a measure was recorded at the end, the share that was "
            "positive (yes, or improved).",
        ),
        "<h2>Timeliness</h2>",
        _fig(chart_timeliness(report), "Higher is better. Blank bars: nothing to judge yet."),
        _fig(chart_acknowledgement(report), "Lower is better."),
        "<h2>Contact attempts</h2>",
        _fig(
            chart_not_contactable(report),
            "Routes that ended with an outcome, and those closed as not contactable once the "
            "service's contact standard was met.",
        ),
        _table(
            (
                "Service",
                "Ended with an outcome",
                "Closed: not contactable",
                "Share not contactable",
                "Attempts per closed route",
            ),
            _contact_rows(report),
            caption="The contact standard",
        ),
        "<h2>Caseload</h2>",
        _fig(
            chart_caseload(report),
            "Cases open, and people waiting for first contact, "
            f"at {report['caseload_at'][:16].replace('T', ' ')} UTC.",
        ),
    ]


def _who_sections(report: Mapping[str, Any]) -> list[str]:
    return [
        "<h2>Who was referred</h2>",
        _fig(chart_breakdown(report, "by_local_authority", "Referrals by local authority"), ""),
        _fig(chart_breakdown(report, "by_source", "Referrals by who referred"), ""),
        _fig(chart_breakdown(report, "by_age_band", "Referrals by age"), ""),
        _fig(chart_breakdown(report, "by_priority", "Referrals by priority"), ""),
    ]


def _equality_sections(report: Mapping[str, Any]) -> list[str]:
    """Equality monitoring, when the report has it (whole months only)."""
    section = report.get("equality")
    if not section:
        return []
    covered = (
        f"Referrals received from {_long_date(section['from'])} to "
        f"{_long_date(section['to'])} (whole months)"
        if section["from"]
        else "No whole month lies in this period, so there are no equality figures"
    )
    characteristics = list(section["characteristics"])
    return [
        "<h2>Equality monitoring</h2>",
        f"<p>{html.escape(covered)}. Each characteristic: how many people's answers were "
        "recorded, how many preferred not to say, and how many were never asked "
        "(the 'not stated' the commissioner's reports ask about).</p>",
        _fig(
            chart_equality_completeness(report),
            "Recorded, prefer not to say and not asked, for each characteristic.",
        ),
        _table(
            ["Who referred", "Referrals", *(equality.title(c) for c in characteristics)],
            _completeness_rows(report),
            caption="Share recorded, by who referred",
        ),
        _equality_tables(report),
    ]


def _reference_sections(report: Mapping[str, Any]) -> list[str]:
    """Every figure of every service, and what each figure means."""
    return [
        "<h2>Every service, every figure</h2>",
        _table(
            ["Service", *(label for _, label, _ in HEADLINE_COLUMNS)],
            _headline_rows(report),
        ),
        "<h2>What the figures mean</h2><dl>",
        "".join(
            f"<dt>{html.escape(term)}</dt><dd>{html.escape(meaning)}</dd>"
            for term, meaning in DEFINITIONS
        ),
        "</dl>",
    ]
