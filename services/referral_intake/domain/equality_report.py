"""The report's equality section (contract: ``equality``): for each monitored characteristic,
referrals by 2021 Census category and how complete the recording is (recorded, prefer not
to say, not asked), overall and by who referred, from the counters intake keeps at
submission (migration 020). The counters are kept per London month, so the section covers
the whole months inside the report's period and says which."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from schemas import equality
from schemas.codes import Source
from services.referral_intake.domain.periods import Period


def months_within(period: Period) -> tuple[date, date] | None:
    """The first days of the first and last whole months inside ``period`` (both inclusive),
    or None when it holds no whole month."""
    first = period.start if period.start.day == 1 else _next_month(period.start)
    after_end = period.end + timedelta(days=1)
    last = _first_of_month(period.end) if after_end.day == 1 else _previous_month(period.end)
    return (first, last) if first <= last else None


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def _last_day(month: date) -> date:
    return _next_month(month) - timedelta(days=1)


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def characteristic_figures(characteristic: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """One characteristic's figures from its counts by code: every Census category (zero
    where nobody had it), ``recorded`` (the sum of those), ``prefer_not_to_say``,
    ``not_asked``, ``referrals`` (all three together) and ``recorded_rate`` (of referrals)."""
    categories = {code: int(counts.get(code, 0)) for code in equality.categories(characteristic)}
    recorded = sum(categories.values())
    declined = int(counts.get(equality.PREFER_NOT_TO_SAY, 0))
    not_asked = int(counts.get(equality.NOT_ASKED, 0))
    total = recorded + declined + not_asked
    return {
        "referrals": total,
        "recorded": recorded,
        "prefer_not_to_say": declined,
        "not_asked": not_asked,
        "recorded_rate": _ratio(recorded, total),
        "categories": categories,
    }


def equality_section(
    rows: Iterable[Mapping[str, Any]], months: tuple[date, date] | None
) -> dict[str, Any]:
    """``rows``: source, characteristic, category, referrals (summed over the months)."""
    overall: dict[str, dict[str, int]] = {c: {} for c in equality.characteristics()}
    by_source: dict[str, dict[str, dict[str, int]]] = {
        s.value: {c: {} for c in equality.characteristics()} for s in Source
    }
    for row in rows:
        characteristic = str(row["characteristic"])
        if characteristic not in overall:
            continue  # a characteristic no longer monitored: its old counts are not shown
        category, count, source = str(row["category"]), int(row["referrals"]), str(row["source"])
        overall[characteristic][category] = overall[characteristic].get(category, 0) + count
        per_source = by_source.setdefault(source, {c: {} for c in equality.characteristics()})
        per_source[characteristic][category] = per_source[characteristic].get(category, 0) + count

    def block(counts: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
        figures = {c: characteristic_figures(c, counts[c]) for c in equality.characteristics()}
        first = next(iter(figures.values()))
        return {"referrals": first["referrals"], "characteristics": figures}

    return {
        "from": months[0].isoformat() if months else None,
        "to": _last_day(months[1]).isoformat() if months else None,
        **block(overall),
        "by_source": {source: block(counts) for source, counts in by_source.items()},
    }
