"""The commissioner's performance report: the aggregates, read in parallel from one
consistent snapshot of the database, assembled by the domain."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.plumbing.db import Connection
from services.referral_intake.adapters import disclosure_control, report_config
from services.referral_intake.adapters import reports as sql
from services.referral_intake.adapters import statutory as statutory_sql
from services.referral_intake.domain import disclosure
from services.referral_intake.domain.equality_report import months_within
from services.referral_intake.domain.performance import Aggregates, Target, build_report
from services.referral_intake.domain.periods import Period

_SNAPSHOT = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
READERS = 3
"""Connections reading at once: the queries are CPU-bound in the database."""

Query = Callable[[Connection], Awaitable[list[dict[str, Any]]]]


@asynccontextmanager
async def _snapshot_readers(pool: asyncpg.Pool, count: int) -> AsyncIterator[list[Connection]]:
    """``count`` connections in read-only transactions that all see the same snapshot, so
    that figures read in parallel agree with one another."""
    async with AsyncExitStack() as stack:
        conns: list[Connection] = []
        snapshot = None
        for _ in range(count):
            conn: Connection = await stack.enter_async_context(pool.acquire())
            await stack.enter_async_context(
                conn.transaction(isolation="repeatable_read", readonly=True)
            )
            if snapshot is None:
                snapshot = str(await conn.fetchval("SELECT pg_export_snapshot()"))
                if not _SNAPSHOT.match(snapshot):
                    raise ValueError(f"unexpected snapshot id {snapshot!r}")
            else:
                await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            await conn.execute("SET LOCAL work_mem = '64MB'")
            conns.append(conn)
        yield conns


async def _run_spread(
    conns: Sequence[Connection], queries: Sequence[Query]
) -> list[list[dict[str, Any]]]:
    """Each query on one of ``conns``; one query at a time per connection."""
    results: list[list[dict[str, Any]]] = [[] for _ in queries]

    async def worker(conn: Connection, mine: list[int]) -> None:
        for i in mine:
            results[i] = await queries[i](conn)

    await asyncio.gather(
        *(worker(c, list(range(n, len(queries), len(conns)))) for n, c in enumerate(conns))
    )
    return results


async def _nothing() -> list[dict[str, Any]]:
    return []


async def performance(
    pool: asyncpg.Pool,
    period: Period,
    *,
    local_authority: str | None = None,
    now: datetime | None = None,
    targets: Sequence[Target] | None = None,
) -> dict[str, Any]:
    """The report for ``period``: counts by the date each referral was received; clocks
    judged as they stand at ``now``; caseload and waiting list at the end of the period
    (or now, for a period not over yet)."""
    now = now or datetime.now(UTC)
    low, high = period.bounds()
    previous = period.previous()
    previous_low, previous_high = previous.bounds()
    caseload_at = min(high, now)
    area = local_authority
    months = months_within(period)
    queries: list[Query] = [
        lambda c: sql.counts(c, low, high, area, now),
        lambda c: sql.over_period(c, sql.ACKNOWLEDGEMENTS, low, high, area),
        lambda c: sql.over_period(c, sql.DIMENSIONS, low, high, area),
        lambda c: sql.caseload(c, caseload_at, area),
        lambda c: sql.over_period(c, sql.PREVIOUS, previous_low, previous_high, area),
        lambda c: sql.over_period(c, sql.INTAKE, low, high, area),
        lambda c: statutory_sql.report(c, low, high, area),
        lambda c: sql.equality(c, *months, area) if months else _nothing(),
    ]
    async with _snapshot_readers(pool, READERS) as conns:
        (
            counts,
            acknowledgements,
            dimensions,
            caseload,
            before,
            intake,
            statutory,
            equality,
        ) = await _run_spread(conns, queries)
    return build_report(
        period=period,
        previous=previous,
        as_of=now,
        caseload_at=caseload_at,
        data=Aggregates(
            counts=counts,
            acknowledgements=acknowledgements,
            dimensions=dimensions,
            caseload=caseload,
            previous=before,
            intake=intake,
            statutory=statutory,
            equality=equality,
            equality_months=months,
        ),
        targets=report_config.targets() if targets is None else targets,
        measures_by_service=report_config.measures_by_service(),
        local_authority=local_authority,
    )


def published_edition(report: dict[str, Any], threshold: int) -> dict[str, Any]:
    """The edition fit to publish: small counts suppressed, with enough secondary suppression
    that none can be worked out from the rest (``domain/disclosure.py``). CPU-bound: run it
    in a worker thread."""
    table = disclosure.count_table(report)
    protection = disclosure.primary(table, threshold)
    hidden = disclosure_control.suppression_pattern(table, protection, threshold)
    return disclosure.publish(report, hidden, threshold=threshold)


async def edition(
    report: dict[str, Any], name: str, *, threshold: int = disclosure.DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """``report`` as the ``internal`` (exact) or ``published`` edition."""
    if name == "published":
        return await asyncio.to_thread(published_edition, report, threshold)
    return disclosure.internal(report)
