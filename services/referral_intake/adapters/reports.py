"""SQL for the commissioner's report: keeping the projection (``report_facts``, migration
005) up to date, and the aggregates the report is assembled from. Each aggregate is one
pass over the period's rows, grouped so that the domain can add the counts up."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import date, datetime
from typing import Any

from services.plumbing.db import Connection


async def refresh(conn: Connection, referral_ids: Collection[uuid.UUID]) -> None:
    """Re-derive these referrals' report rows, in the caller's transaction. The caller holds
    the referrals' row locks, so this sees every change committed before it."""
    if referral_ids:
        await conn.execute("SELECT report_refresh($1::uuid[])", list(referral_ids))


_IN_PERIOD = """received_at >= $1 AND received_at < $2
                AND ($3::text IS NULL OR local_authority = $3)"""


def _judged(deadline: str, done: str) -> str:
    """A clock is judged once it was met, or once its deadline passed (by ``$4``, the time
    the report is made) with the route still open at the deadline."""
    still_open = f"(ended_at IS NULL OR ended_at > {deadline})"
    return f"({done} IS NOT NULL OR ({deadline} <= $4 AND {still_open}))"


def _clock(name: str, deadline: str, done: str, among: str = "") -> str:
    """Two counts for one clock, each followed by a comma: ``{name}_met`` (``done`` by
    ``deadline``) and ``{name}_judged`` (``_judged``), of the rows the SQL condition
    ``among`` picks (all of them when empty)."""
    among = f"{among} AND " if among else ""
    return (
        f"count(*) FILTER (WHERE {among}{done} <= {deadline}) AS {name}_met,\n"
        f"       count(*) FILTER (WHERE {among}{_judged(deadline, done)}) AS {name}_judged,"
    )


_AFTER_REQUEST = "requested_at + interval '%d hours'"
"""The deadline of the high-risk contact clocks: so many hours after the route was requested."""

_COUNTS = f"""
SELECT service, sub_service, rejection_reason,{{measures}}
       count(*) AS referrals,
       count(*) FILTER (WHERE accepted) AS accepted,
       count(*) FILTER (WHERE rejected) AS rejected,
       count(*) FILTER (WHERE acknowledged_at IS NOT NULL) AS acknowledged,
       count(*) FILTER (WHERE engaged) AS engaged,
       count(*) FILTER (WHERE outcome_status = 'completed') AS completed,
       count(*) FILTER (WHERE first_contact_at IS NOT NULL) AS contacted,
       count(*) FILTER (WHERE outcome_status IN ('completed', 'failed')) AS ended_with_outcome,
       count(*) FILTER (WHERE outcome_status IN ('completed', 'failed')
                          AND positive_outcome IS NOT NULL) AS outcomes_with_measures,
       count(*) FILTER (WHERE outcome_status IN ('completed', 'failed')
                          AND positive_outcome) AS positive_outcomes,
       {_clock("contact", "contact_due_by", "first_contact_at")}
       {_clock("code", "code_deadline", "reached_at")}
       count(*) FILTER (WHERE high_risk_da) AS high_risk_da,
       {_clock("high_risk_48h", _AFTER_REQUEST % 48, "first_contact_at", "high_risk_da")}
       {_clock("high_risk_72h", _AFTER_REQUEST % 72, "first_contact_at", "high_risk_da")}
       count(*) FILTER (WHERE not_contactable) AS not_contactable,
       coalesce(sum(contact_attempts) FILTER (WHERE outcome_status IN ('completed', 'failed')),
                0) AS attempts_on_ended
FROM report_facts
WHERE {_IN_PERIOD}
GROUP BY service, sub_service, rejection_reason
"""  # noqa: S608 - fixed fragments, no input


def counts_sql(bits: Iterable[int]) -> str:
    """The counts, with two per outcome measure (reported, positive) read from its bit."""
    columns = []
    for bit in bits:
        if not isinstance(bit, int) or not 0 <= bit <= 30:
            raise ValueError(f"not a measure bit: {bit!r}")
        mask = 1 << bit
        columns.append(
            f"\n       count(*) FILTER (WHERE measures_reported & {mask} <> 0) AS reported_{bit},"
            f"\n       count(*) FILTER (WHERE measures_positive & {mask} <> 0) AS positive_{bit},"
        )
    return _COUNTS.format(measures="".join(columns))


ACKNOWLEDGEMENTS = f"""
SELECT service, sub_service,
       round(extract(epoch FROM acknowledged_at - requested_at) / 60)::integer AS minutes,
       count(*) AS routes
FROM report_facts
WHERE {_IN_PERIOD} AND acknowledged_at IS NOT NULL
GROUP BY service, sub_service, minutes
"""  # noqa: S608 - minutes to acknowledge as a histogram: medians for every level from one pass

DIMENSIONS = f"""
SELECT service, local_authority, source, age_band, priority, count(*) AS referrals
FROM report_facts
WHERE {_IN_PERIOD}
GROUP BY service, local_authority, source, age_band, priority
"""  # noqa: S608

CASELOAD = """
SELECT service, sub_service,
       count(*) FILTER (WHERE accepted AND acknowledged_at < $1) AS open_caseload,
       count(*) FILTER (WHERE first_contact_at IS NULL OR first_contact_at >= $1)
           AS waiting_list
FROM report_facts
WHERE requested_at < $1 AND (ended_at IS NULL OR ended_at >= $1)
  AND ($2::text IS NULL OR local_authority = $2)
GROUP BY service, sub_service
"""

PREVIOUS = f"""
SELECT service, count(*) AS referrals
FROM report_facts
WHERE {_IN_PERIOD}
GROUP BY service
"""  # noqa: S608

EQUALITY = """
SELECT source, characteristic, category, sum(referrals)::integer AS referrals
FROM equality_counts
WHERE month >= $1 AND month <= $2 AND ($3::text IS NULL OR local_authority = $3)
GROUP BY source, characteristic, category
"""
"""Equality answers counted at submission (migration 020), over whole London months."""

INTAKE = f"""
SELECT status, count(*) AS referrals
FROM referrals
WHERE {_IN_PERIOD}
GROUP BY status
"""  # noqa: S608


async def _rows(conn: Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(sql, *args)]


async def counts(
    conn: Connection, low: datetime, high: datetime, area: str | None, as_of: datetime
) -> list[dict[str, Any]]:
    """Rows of counts; each row's ``measures`` maps a measure to (reported, positive)."""
    bits = {r["bit"]: r["name"] for r in await conn.fetch("SELECT bit, name FROM report_measures")}
    rows = await _rows(conn, counts_sql(sorted(bits)), low, high, area, as_of)
    for row in rows:
        row["measures"] = {
            name: (row.pop(f"reported_{bit}"), row.pop(f"positive_{bit}"))
            for bit, name in sorted(bits.items())
        }
    return rows


PERIOD_AGGREGATES = (ACKNOWLEDGEMENTS, DIMENSIONS, PREVIOUS, INTAKE)


async def over_period(
    conn: Connection, aggregate: str, low: datetime, high: datetime, area: str | None
) -> list[dict[str, Any]]:
    """The rows of ``aggregate`` (one of ``PERIOD_AGGREGATES``) for referrals received in
    ``[low, high)``, in ``area`` (a local authority) or everywhere (None)."""
    if aggregate not in PERIOD_AGGREGATES:
        raise ValueError("not a period aggregate")
    return await _rows(conn, aggregate, low, high, area)


async def caseload(conn: Connection, at: datetime, area: str | None) -> list[dict[str, Any]]:
    return await _rows(conn, CASELOAD, at, area)


async def equality(
    conn: Connection, first_month: date, last_month: date, area: str | None
) -> list[dict[str, Any]]:
    return await _rows(conn, EQUALITY, first_month, last_month, area)
