"""The performance report's pure parts: periods (financial quarters, London days), targets
and their pro-rating, assembly from aggregate counts (medians, change on the previous
period), CSV flattening, and the HTML document with its charts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.html import render
from services.referral_intake.adapters import report_config
from services.referral_intake.domain.performance import (
    AGE_BANDS,
    Aggregates,
    Target,
    age_band,
    build_report,
    parse_targets,
    pro_rata,
    targets_in_force,
    to_csv,
)
from services.referral_intake.domain.periods import (
    Period,
    PeriodError,
    current_quarter,
    parse_period,
)
from tests.support import report_figures

TODAY = date(2026, 11, 21)


# ---- periods --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-27Q1", date(2026, 4, 1), date(2026, 6, 30)),
        ("2026-27Q2", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-27Q3", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-27Q4", date(2027, 1, 1), date(2027, 3, 31)),
        ("2098-99Q4", date(2099, 1, 1), date(2099, 3, 31)),
        ("2026-27", date(2026, 4, 1), date(2027, 3, 31)),
    ],
)
def test_financial_quarters_run_april_to_march(text: str, start: date, end: date) -> None:
    period = parse_period(text, None, None, today=TODAY)
    assert (period.start, period.end, period.label) == (start, end, text)


def test_a_date_range_that_is_a_quarter_is_labelled_as_one() -> None:
    assert parse_period(None, "2026-10-01", "2026-12-31", today=TODAY).label == "2026-27Q3"
    assert parse_period(None, "2026-10-01", "2026-12-30", today=TODAY).label is None
    assert parse_period(None, "2026-07-01", "2026-12-31", today=TODAY).label is None


def test_no_period_means_the_current_quarter() -> None:
    assert parse_period(None, None, None, today=TODAY) == Period(
        date(2026, 10, 1), date(2026, 12, 31)
    )
    assert current_quarter(date(2027, 3, 31)).label == "2026-27Q4"
    assert current_quarter(date(2027, 4, 1)).label == "2027-28Q1"


@pytest.mark.parametrize(
    ("period", "from_", "to", "fields"),
    [
        ("2026-27Q5", None, None, ["period"]),
        ("2026-28", None, None, ["period"]),
        ("26-27Q1", None, None, ["period"]),
        ("2026-27Q3", "2026-10-01", None, ["period"]),
        (None, "2026-10-01", None, ["to"]),
        (None, None, "2026-10-01", ["from"]),
        (None, "2026-02-30", "2026-1-1", ["from", "to"]),
        (None, "2026-12-31", "2026-10-01", ["to"]),
        (None, "2020-01-01", "2026-10-01", ["to"]),
        (None, "9999-12-31", "9999-12-31", ["from", "to"]),
        (None, "0001-01-01", "2026-10-01", ["from"]),
        ("2099-00", None, None, ["period"]),
        ("\N{ARABIC-INDIC DIGIT TWO}026-27Q1", None, None, ["period"]),
    ],
)
def test_bad_periods_name_their_fields(
    period: str | None, from_: str | None, to: str | None, fields: list[str]
) -> None:
    with pytest.raises(PeriodError) as refused:
        parse_period(period, from_, to, today=TODAY)
    assert [e["field"] for e in refused.value.errors] == fields


def test_days_are_londons_across_summer_time() -> None:
    low, high = Period(date(2026, 7, 1), date(2026, 9, 30)).bounds()
    assert low == datetime(2026, 6, 30, 23, tzinfo=UTC)  # BST
    assert high == datetime(2026, 9, 30, 23, tzinfo=UTC)
    low, high = Period(date(2026, 10, 1), date(2026, 12, 31)).bounds()
    assert low == datetime(2026, 9, 30, 23, tzinfo=UTC)  # still BST on 1 October
    assert high == datetime(2027, 1, 1, tzinfo=UTC)  # GMT


def test_the_previous_period_to_compare_with() -> None:
    q1 = parse_period("2026-27Q1", None, None, today=TODAY)
    assert q1.previous().label == "2025-26Q4"
    assert parse_period("2026-27", None, None, today=TODAY).previous().label == "2025-26"
    ranged = Period(date(2026, 11, 1), date(2026, 11, 10))
    assert ranged.previous() == Period(date(2026, 10, 22), date(2026, 10, 31))


# ---- targets --------------------------------------------------------------------------------
def test_yearly_targets_are_pro_rated_to_the_period() -> None:
    q3 = Period(date(2026, 10, 1), date(2026, 12, 31))
    assert pro_rata(1660, q3) == 415.0
    assert pro_rata(1660, Period(date(2026, 4, 1), date(2027, 3, 31))) == 1660.0
    assert pro_rata(1660, Period(date(2026, 7, 1), date(2026, 12, 31))) == 830.0
    assert pro_rata(365, Period(date(2026, 11, 1), date(2026, 11, 10))) == 10.0


def test_the_target_in_force_at_the_end_of_the_period_applies() -> None:
    targets = [
        Target("ISVA", "referrals", date(2022, 4, 1), per_year=1500),
        Target("ISVA", "referrals", date(2022, 10, 1), per_year=1660),
        Target("ISVA", "referrals", date(2030, 4, 1), per_year=2000),
    ]
    chosen = targets_in_force(targets, Period(date(2026, 10, 1), date(2026, 12, 31)))
    assert chosen[("ISVA", "referrals")].per_year == 1660


def test_the_targets_file_is_valid_and_mistakes_are_named() -> None:
    shipped = report_config.targets()
    assert any(t.service == "ISVA" and t.per_year == 1660 for t in shipped)
    with pytest.raises(ValueError, match=r"targets\[0\]: service"):
        parse_targets({"targets": [{"service": "NOPE", "figure": "referrals", "per_year": 1}]})
    with pytest.raises(ValueError, match="either per_year"):
        parse_targets({"targets": [{"service": "ISVA", "figure": "referrals"}]})
    with pytest.raises(ValueError, match="a rate between 0 and 1"):
        parse_targets({"targets": [{"service": "ISVA", "figure": "referrals", "rate": 0.5}]})
    with pytest.raises(ValueError, match="effective_from"):
        parse_targets({"targets": [{"service": "ISVA", "figure": "referrals", "per_year": 5}]})


def test_age_bands() -> None:
    assert [age_band(a) for a in (0, 9, 10, 17, 18, 24, 25, 64, 65, 120)] == [
        "0-9",
        "0-9",
        "10-17",
        "10-17",
        "18-24",
        "18-24",
        "25-34",
        "55-64",
        "65+",
        "65+",
    ]
    assert age_band(None) == "unknown"


# ---- assembly ---------------------------------------------------------------------------------
def _counts(service: str, sub_service: str, reason: str | None = None, **counts: Any) -> Any:
    return {"service": service, "sub_service": sub_service, "rejection_reason": reason, **counts}


def _report(**overrides: Any) -> dict[str, Any]:
    q3 = Period(date(2026, 10, 1), date(2026, 12, 31))
    data: dict[str, Any] = {
        "counts": [
            _counts(
                "ISVA",
                "adult",
                referrals=300,
                accepted=250,
                acknowledged=290,
                engaged=200,
                completed=120,
                ended_with_outcome=150,
                outcomes_with_measures=140,
                positive_outcomes=119,
                contact_met=180,
                contact_judged=240,
                measures={"cope_and_recover": (140, 119), "needs_met": (100, 90)},
            ),
            _counts("ISVA", "adult", "capacity", referrals=40, rejected=40, acknowledged=40),
            _counts("ISVA", "child", referrals=60, accepted=60, acknowledged=60),
            _counts("VAL", "core", referrals=1000, accepted=900, acknowledged=900),
        ],
        "acknowledgements": [
            {"service": "ISVA", "sub_service": "adult", "minutes": 60, "routes": 3},
            {"service": "ISVA", "sub_service": "adult", "minutes": 180, "routes": 1},
            {"service": "ISVA", "sub_service": "child", "minutes": 600, "routes": 2},
        ],
        "dimensions": [
            {
                "service": "ISVA",
                "local_authority": "shropshire",
                "source": "police_officer",
                "age_band": "18-24",
                "priority": "high",
                "referrals": 400,
            },
            {
                "service": "VAL",
                "local_authority": "worcestershire",
                "source": "val",
                "age_band": "65+",
                "priority": "standard",
                "referrals": 1000,
            },
        ],
        "caseload": [
            {"service": "ISVA", "sub_service": "adult", "open_caseload": 500, "waiting_list": 50}
        ],
        "previous": [{"service": "ISVA", "referrals": 320}, {"service": "VAL", "referrals": 0}],
        "intake": [
            {"status": "routed", "referrals": 1200},
            {"status": "closed", "referrals": 100},
            {"status": "no_service", "referrals": 70},
        ],
    }
    data.update(overrides)
    return build_report(
        period=q3,
        previous=q3.previous(),
        as_of=datetime(2027, 1, 10, tzinfo=UTC),
        caseload_at=datetime(2027, 1, 1, tzinfo=UTC),
        data=Aggregates(**data),
        targets=[Target("ISVA", "referrals", date(2022, 10, 1), per_year=1660)],
        measures_by_service={"ISVA": ("cope_and_recover", "needs_met"), "VAL": ("needs_met",)},
    )


def test_counts_add_up_through_every_level_and_rates_come_from_the_sums() -> None:
    report = _report()
    isva = report["services"]["ISVA"]
    assert isva["referrals"] == 400
    assert isva["sub_services"]["adult"]["referrals"] == 340
    assert isva["rejected"] == 40
    assert isva["rejected_by_reason"]["capacity"] == 40
    assert isva["acceptance_rate"] == round(310 / 350, 4)
    assert isva["positive_outcome_rate"] == 0.85
    assert isva["contact_within_target_rate"] == 0.75
    assert isva["outcome_measures"]["cope_and_recover"] == {
        "reported": 140,
        "positive": 119,
        "rate": 0.85,
    }
    assert report["totals"]["referrals"] == 1400
    assert report["totals"]["outcome_measures"]["needs_met"]["rate"] == 0.9
    assert report["services"]["CLIMB"]["referrals"] == 0
    assert report["totals"]["intake"] == {
        "received": 1370,
        "routed": 1300,
        "awaiting_consent": 0,
        "no_service": 70,
        "not_yet_decided": 0,
    }


def test_medians_are_read_from_the_minute_histogram_per_level() -> None:
    report = _report()
    isva = report["services"]["ISVA"]
    assert isva["sub_services"]["adult"]["median_hours_to_acknowledge"] == 1.0  # 60,60,60,180
    assert isva["sub_services"]["child"]["median_hours_to_acknowledge"] == 10.0
    assert isva["median_hours_to_acknowledge"] == 2.0  # 60,60,60,180,600,600: (60+180)/2
    assert report["services"]["VAL"]["median_hours_to_acknowledge"] is None


def test_change_on_the_previous_period_and_variance_against_target() -> None:
    report = _report()
    isva, val = report["services"]["ISVA"], report["services"]["VAL"]
    assert (isva["referrals_previous_period"], isva["referrals_change_rate"]) == (320, 0.25)
    assert val["referrals_change_rate"] is None  # nothing to compare with
    assert report["totals"]["referrals_change_rate"] == round((1400 - 320) / 320, 4)
    assert isva["targets"]["referrals"] == {
        "per_year": 1660.0,
        "target": 415.0,
        "actual": 400,
        "variance": -15.0,
        "variance_rate": -0.0361,
    }
    assert val["targets"] == {}
    assert isva["open_caseload_at_end"] == 500
    assert isva["by_local_authority"]["shropshire"] == 400
    assert report["totals"]["by_age_band"]["65+"] == 1000
    assert list(report["totals"]["by_age_band"]) == list(AGE_BANDS)


def test_csv_has_one_row_per_figure_and_reads_back_as_the_json() -> None:
    report = _report()
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert list(rows[0]) == ["period", "from", "to", "service", "sub_service", "figure", "value"]
    figures = {(r["service"], r["sub_service"], r["figure"]): r["value"] for r in rows}
    assert figures[("ISVA", "", "referrals")] == "400"
    assert figures[("ISVA", "adult", "referrals")] == "340"
    assert figures[("ISVA", "", "rejected_by_reason.capacity")] == "40"
    assert figures[("ISVA", "", "outcome_measures.cope_and_recover.rate")] == "0.85"
    assert figures[("ISVA", "", "targets.referrals.variance")] == "-15.0"
    assert figures[("VAL", "", "median_hours_to_acknowledge")] == ""  # null
    assert figures[("all", "", "intake.received")] == "1370"
    assert len(rows) == len(report_figures.figures(report))  # every figure of the json
    assert {r["period"] for r in rows} == {"2026-27Q3"}
    assert len(figures) == len(rows)  # no figure twice


# ---- the HTML document ----------------------------------------------------------------------
class _Document(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_report_renders_with_its_charts_inline() -> None:
    page = render(_report(), generated_at=datetime(2027, 1, 10, 9, tzinfo=UTC))
    document = _Document()
    document.feed(page)
    text = " ".join(document.text)
    assert page.startswith("<!DOCTYPE html>")
    # Twelve charts with something to show; the equality chart, with no answers counted,
    # is a sentence instead.
    assert document.tags.count("svg") == document.tags.count("figure") == 12
    assert "No referrals were received in the months this section covers." in text
    assert "script" not in document.tags
    assert all(not re.match(r"^(https?:)?//", link) for link in document.links)
    for title in (
        "Referrals received, against target and the previous period",
        "What happened to the referrals",
        "Positive outcomes, by measure",
        "Timeliness: share of referrals on time",
        "Open caseload and waiting list at the end of the period",
    ):
        assert title in text
    assert "Victim services performance, 2026-27 Q3" in text
    assert "Sexual violence advisers (ISVA)" in text
    assert "1,660 a year" in text
    assert "Statutory referrals the policy asked staff to make" in text
    assert "Duty to notify the Home Office (adult)" in text


_TEXT = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.dates().map(date.isoformat),
    st.builds(
        lambda y, q: f"{y}-{(y + 1) % 100:02d}" + (f"Q{q}" if q else ""),
        st.integers(0, 9999),
        st.integers(0, 5),
    ),
)


@given(period=_TEXT, from_=_TEXT, to=_TEXT)
def test_any_period_parameters_give_a_period_or_name_the_fields(
    period: str | None, from_: str | None, to: str | None
) -> None:
    errors: list[dict[str, str]] = []
    try:
        parsed = parse_period(period, from_, to, today=TODAY)
    except PeriodError as refused:
        errors = refused.errors
        parsed = None
    if parsed is None:
        assert errors
        assert {e["field"] for e in errors} <= {"period", "from", "to"}
    else:
        low, high = parsed.bounds()
        assert low < high
        assert parsed.previous().bounds()[1] == low
