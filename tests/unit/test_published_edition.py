"""The published edition of the commissioner's report: no count below the threshold can be
recovered from what is published, by an intruder who solves for it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from reports.synthetic import referrals_report
from services.referral_intake.domain import disclosure
from services.referral_intake.domain.performance import to_csv
from services.referral_intake.handlers.reports import published_edition
from tests.support.disclosure_attack import Path, intervals, knowledge


def _value(report: dict[str, Any], path: Path) -> Any:
    value: Any = report
    for part in path:
        value = value[part]
    return value


def _small_cells(internal: dict[str, Any], threshold: int) -> dict[Path, int]:
    _k, counts = knowledge(internal)
    return {p: v for p, v in counts.items() if 0 < v < threshold}


@pytest.mark.parametrize(
    ("seed", "referrals", "threshold"),
    [(11, 40, 10), (12, 150, 10), (14, 150, 5), (15, 1500, 10)],
)
def test_no_small_count_can_be_worked_out_from_the_published_edition(
    seed: int, referrals: int, threshold: int
) -> None:
    internal = referrals_report(seed, referrals, skew=1.4)
    published = published_edition(internal, threshold)
    small = _small_cells(internal, threshold)
    assert small, "the report must hold small counts for this test to mean anything"
    suppressed = {tuple(p.split(".")) for p in published["suppressed"]}
    # Every small count is suppressed, and everything published is exact.
    assert set(small) <= suppressed
    _, shown = knowledge(published)
    _, exact = knowledge(internal)
    assert all(exact[p] == v for p, v in shown.items())
    assert all(_value(published, p) is None for p in suppressed)

    reach = intervals(published, set(small))
    for path, (low, high) in reach.items():
        where = ".".join(path)
        assert low <= small[path] <= high, f"{where}: the truth must be possible"
        assert high >= threshold, (
            f"{where} (really {small[path]}) can be shown to be at most {high:g}: "
            f"below the threshold of {threshold}"
        )
        assert high - low >= threshold - small[path], f"{where} is pinned to [{low:g}, {high:g}]"


def test_the_intruder_does_recover_cells_when_only_the_small_ones_are_hidden() -> None:
    """The attack is real: with primary suppression alone, it gets small counts back."""
    internal = referrals_report(12, 150, skew=1.4)
    table = disclosure.count_table(internal)
    primary_only = disclosure.publish(internal, disclosure.primary(table, 10), threshold=10)
    small = _small_cells(internal, 10)
    reach = intervals(primary_only, set(small))
    recovered = [p for p, (low, high) in reach.items() if low == high == small[p]]
    narrowed = [p for p, (_, high) in reach.items() if high < 10]
    assert recovered, "some small count is pinned to its true value"
    assert len(narrowed) >= len(recovered)


def test_shares_means_and_changes_of_small_groups_are_not_published() -> None:
    internal = referrals_report(16, 120, skew=1.4)
    published = published_edition(internal, 10)
    for level in [published["totals"], *published["services"].values()]:
        for rate, (top, bottom) in (
            ("engagement_rate", ("engaged", "referrals")),
            ("not_contactable_rate", ("closed_not_contactable", "ended_with_outcome")),
        ):
            if level[rate] is not None:
                assert level[top] is not None
                assert level[bottom] is not None
                assert level[bottom] >= 10
                assert not 0 < level[top] < 10
                assert not 0 < level[bottom] - level[top] < 10
        if level["median_hours_to_acknowledge"] is not None:
            assert level["acknowledged"] is not None
            assert level["acknowledged"] >= 10


def test_published_csv_marks_suppressed_cells_c_and_json_lists_them() -> None:
    internal = referrals_report(17, 80, skew=1.4)
    published = published_edition(internal, 10)
    rows = list(csv.DictReader(io.StringIO(to_csv(published))))
    marked = {(r["service"], r["sub_service"], r["figure"]) for r in rows if r["value"] == "[c]"}
    assert marked
    for path in published["suppressed"]:
        parts = path.split(".")
        if parts[0] == "services" and len(parts) > 3 and parts[2] == "sub_services":
            key = (parts[1], parts[3], ".".join(parts[4:]))
        elif parts[0] == "services":
            key = (parts[1], "", ".".join(parts[2:]))
        elif parts[0] == "totals":
            key = ("all", "", ".".join(parts[1:]))
        else:
            continue
        assert key in marked, path
    assert all(r["value"] != "[c]" or r["figure"] for r in rows)
    assert published["edition"] == "published"
    assert published["disclosure_control"]["threshold"] == 10


def test_the_internal_edition_is_exact() -> None:
    internal = referrals_report(18, 80)
    edition = disclosure.internal(internal)
    assert edition["edition"] == "internal"
    assert edition["suppressed"] == []
    assert edition["services"] == internal["services"]
