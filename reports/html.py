"""Rendering the performance report (the API's JSON) as one HTML document for a panel:
headline figures, charts drawn with pygal as inline SVG (no script, no web fonts, nothing
fetched), tables of every figure, and what each figure means."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pygal
from pygal.style import Style

from schemas.calendar import LONDON, england_day

SERVICE_NAMES = {
    "VAL": "Victim Advice Line (VAL)",
    "IDVA": "Domestic abuse advisers (IDVA)",
    "ISVA": "Sexual violence advisers (ISVA)",
    "CLIMB": "Child exploitation (CLIMB)",
    "DIVERT": "Drug diversion (DIVERT)",
}
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
    }
    return kind(**{**settings, **options})


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _svg(chart: Any) -> str:
    """The chart as inline SVG, without the configuration pygal's (absent) tooltip script
    would read: the document has no script at all."""
    rendered: str = chart.render(is_unicode=True)
    return _SCRIPT.sub("", rendered)


def _percent_values(values: Iterable[Any]) -> list[float | None]:
    return [None if v is None else round(v * 100, 1) for v in values]


def chart_volumes(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    chart = _chart(
        pygal.Bar,
        "Referrals received, against target and the previous period",
        height=420,
        value_formatter=lambda v: f"{v:,.0f}",
    )
    chart.x_labels = [c for c in codes]
    chart.add("This period", [services[c]["referrals"] for c in codes])
    chart.add("Previous period", [services[c]["referrals_previous_period"] for c in codes])
    chart.add(
        "Target for the period",
        [services[c]["targets"].get("referrals", {}).get("target") for c in codes],
    )
    return _svg(chart)


def chart_funnel(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    chart = _chart(
        pygal.Bar,
        "What happened to the referrals",
        height=420,
        value_formatter=lambda v: f"{v:,.0f}",
    )
    chart.x_labels = [c for c in codes]
    for figure, label in (
        ("referrals", "Referred"),
        ("accepted", "Accepted"),
        ("rejected", "Rejected"),
        ("engaged", "Engaged"),
        ("completed", "Completed"),
    ):
        chart.add(label, [services[c][figure] for c in codes])
    return _svg(chart)


def chart_rejections(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    reasons = list(report["totals"]["rejected_by_reason"])
    chart = _chart(
        pygal.HorizontalStackedBar,
        "Rejected referrals, by reason",
        height=340,
        value_formatter=lambda v: f"{v:,.0f}",
    )
    chart.x_labels = [c for c in codes]
    for reason in reasons:
        chart.add(
            name(reason), [services[c]["rejected_by_reason"].get(reason) or None for c in codes]
        )
    return _svg(chart)


def chart_outcomes(report: Mapping[str, Any]) -> str:
    services = report["services"]
    measures = list(report["totals"]["outcome_measures"])
    chart = _chart(
        pygal.HorizontalBar,
        "Positive outcomes, by measure (share of those recorded)",
        height=max(420, 34 * len(measures) * 2),
        range=(0, 100),
        value_formatter=lambda v: f"{v:.0f}%",
    )
    chart.x_labels = [name(m) for m in measures]
    for code, figures in services.items():
        rates = [figures["outcome_measures"].get(m, {}).get("rate") for m in measures]
        if any(r is not None for r in rates):
            chart.add(code, _percent_values(rates))
    return _svg(chart)


def chart_timeliness(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    chart = _chart(
        pygal.Bar,
        "Timeliness: share of referrals on time",
        height=460,
        legend_at_bottom_columns=2,
        range=(0, 100),
        value_formatter=lambda v: f"{v:.0f}%",
    )
    chart.x_labels = [c for c in codes]
    for figure, label in (
        ("code_compliance_rate", "Reached the service within the Victims' Code clock"),
        ("contact_within_target_rate", "Contacted within the service's target"),
        ("high_risk_da_contacted_within_48h_rate", "High-risk DA contacted within 48 h"),
        ("high_risk_da_contacted_within_72h_rate", "High-risk DA contacted within 72 h"),
    ):
        chart.add(label, _percent_values(services[c][figure] for c in codes))
    return _svg(chart)


def chart_acknowledgement(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    chart = _chart(
        pygal.HorizontalBar,
        "Median hours from referral to acknowledgement",
        height=320,
        show_legend=False,
        value_formatter=lambda v: f"{v:.1f} h",
    )
    chart.x_labels = [c for c in codes]
    chart.add("Median hours", [services[c]["median_hours_to_acknowledge"] for c in codes])
    return _svg(chart)


def chart_caseload(report: Mapping[str, Any]) -> str:
    services = report["services"]
    codes = list(services)
    chart = _chart(
        pygal.Bar,
        "Open caseload and waiting list at the end of the period",
        height=380,
        value_formatter=lambda v: f"{v:,.0f}",
    )
    chart.x_labels = [c for c in codes]
    chart.add("Open caseload", [services[c]["open_caseload_at_end"] for c in codes])
    chart.add("Waiting for first contact", [services[c]["waiting_list_at_end"] for c in codes])
    return _svg(chart)


def chart_breakdown(report: Mapping[str, Any], figure: str, title: str) -> str:
    services = report["services"]
    categories = list(report["totals"][figure])
    chart = _chart(
        pygal.StackedBar,
        title,
        height=380,
        value_formatter=lambda v: f"{v:,.0f}",
        print_values=False,
    )
    chart.x_labels = [name(c) for c in categories]
    for code, figures in services.items():
        counts = [figures[figure].get(c) or None for c in categories]
        if any(counts):
            chart.add(code, counts)
    return _svg(chart)


# ---- the document -------------------------------------------------------------------------
def _table(
    head: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str | None = None
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
    return f"<table>{title}<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


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


def _headline_rows(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for code, figures in report["services"].items():
        rows.append([name(code)] + [fmt(figures[f]) for f, _, fmt in HEADLINE_COLUMNS])
        for sub, sub_figures in figures["sub_services"].items():
            rows.append(
                [f"    {name(sub)}"] + [fmt(sub_figures[f]) for f, _, fmt in HEADLINE_COLUMNS]
            )
    rows.append(["All services"] + [fmt(report["totals"][f]) for f, _, fmt in HEADLINE_COLUMNS])
    return rows


def _target_rows(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for code, figures in report["services"].items():
        for figure, t in figures["targets"].items():
            if "per_year" in t:
                rows.append(
                    [
                        name(code),
                        f"{name(figure)} ({t['per_year']:,.0f} a year)",
                        _count(t["target"]),
                        _count(t["actual"]),
                        f"{_count(t['variance'])} ({_change(t['variance_rate'])})",
                    ]
                )
            else:
                points = None if t["variance"] is None else f"{t['variance'] * 100:+.0f} points"
                rows.append(
                    [
                        name(code),
                        name(figure),
                        _percent(t["target"]),
                        _percent(t["actual"]),
                        points or NONE,
                    ]
                )
    return rows


def _volume_rows(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for code, f in [*report["services"].items(), ("All services", report["totals"])]:
        rows.append(
            [
                name(code) if code in report["services"] else code,
                _count(f["referrals"]),
                _count(f["referrals_previous_period"]),
                _change(f["referrals_change_rate"]),
            ]
        )
    return rows


DEFINITIONS = (
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

CSS = """
body{font-family:'Segoe UI',Arial,Helvetica,sans-serif;color:#1b1b1b;max-width:1100px;
margin:2rem auto;padding:0 1.5rem;line-height:1.45}
h1{font-size:1.9rem;margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #0072B2;
padding-bottom:.2rem}.lede{color:#444;margin-top:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.8rem;
margin:1.4rem 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.7rem .9rem;background:#f7f9fb}
.card b{display:block;font-size:1.7rem;color:#0b4f8a}.card span{font-size:.9rem;color:#333}
figure{margin:1.2rem 0;page-break-inside:avoid}figure svg{width:100%;height:auto}
figcaption{font-size:.9rem;color:#444}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.88rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:right}
th[scope=row],thead th:first-child{text-align:left;white-space:pre}thead th{background:#eef3f8}
caption{text-align:left;font-weight:600;padding:.3rem 0}
dl dt{font-weight:600;margin-top:.6rem}dl dd{margin-left:0}
.note{font-size:.85rem;color:#555}@media print{body{margin:0}h2{page-break-before:auto}}
"""


def render(report: Mapping[str, Any], *, generated_at: datetime) -> str:
    totals = report["totals"]
    period = report.get("period")
    span = f"{_long_date(report['from'])} to {_long_date(report['to'])}"
    title = f"Victim services performance, {period.replace('Q', ' Q') if period else span}"
    area = report.get("local_authority")
    intake = totals["intake"]
    cards = (
        (_count(intake["received"]), "referrals received by the hub"),
        (_count(totals["referrals"]), "referrals to services"),
        (_percent(totals["acceptance_rate"]), "accepted by the service"),
        (_percent(totals["engagement_rate"]), "engaged"),
        (_percent(totals["positive_outcome_rate"]), "positive outcome at the end"),
        (_percent(totals["code_compliance_rate"]), "within the Victims' Code clock"),
    )
    figure = "".join(
        f"<div class='card'><b>{html.escape(v)}</b><span>{html.escape(t)}</span></div>"
        for v, t in cards
    )

    def fig(svg: str, caption: str) -> str:
        return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"

    previous = report["previous_period"]
    sections = [
        "<h2>Volumes against targets</h2>",
        fig(
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
        "<h2>What happened to the referrals</h2>",
        fig(
            chart_funnel(report),
            "Each service's referrals, and how many it accepted, "
            "rejected, engaged and completed (so far).",
        ),
        fig(chart_rejections(report), "Why services rejected referrals."),
        "<h2>Outcomes</h2>",
        fig(
            chart_outcomes(report),
            "Of the cases where a measure was recorded at the end, the share that was "
            "positive (yes, or improved).",
        ),
        "<h2>Timeliness</h2>",
        fig(chart_timeliness(report), "Higher is better. Blank bars: nothing to judge yet."),
        fig(chart_acknowledgement(report), "Lower is better."),
        "<h2>Caseload</h2>",
        fig(
            chart_caseload(report),
            "Cases open, and people waiting for first contact, "
            f"at {report['caseload_at'][:16].replace('T', ' ')} UTC.",
        ),
        "<h2>Who was referred</h2>",
        fig(chart_breakdown(report, "by_local_authority", "Referrals by local authority"), ""),
        fig(chart_breakdown(report, "by_source", "Referrals by who referred"), ""),
        fig(chart_breakdown(report, "by_age_band", "Referrals by age"), ""),
        fig(chart_breakdown(report, "by_priority", "Referrals by priority"), ""),
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
    lede = (
        f"{span}{', ' + name(area) if area else ''}. Referrals are counted by the date "
        "they were received; what happened to them is as it stood on "
        f"{_day_of(report['as_of'])}. Counts only: no personal data."
    )
    return (
        "<!DOCTYPE html><html lang='en-GB'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='lede'>{html.escape(lede)}</p>"
        f"<div class='cards'>{figure}</div>"
        + "".join(sections)
        + f"<p class='note'>Made {_day_of(generated_at.isoformat())} at "
        f"{generated_at.astimezone(LONDON):%H:%M} (UK time) "
        "from the referral hub's performance report (GET /v1/reports/performance).</p>"
        "</body></html>"
    )
