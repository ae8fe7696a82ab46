"""The commissioner's report over a year of a million referrals: how long it takes to answer.

``report_seconds(database_url)`` creates its own schema (``bench_report``, dropped first) in
the given database, applies intake's migrations there, loads one million synthetic referrals
received in the financial year 2026-27 with their routes, acknowledgements, contacts and
outcomes (the ``report_facts`` projection as intake's handlers leave it, and the
``referrals`` rows the intake figures count) by binary COPY, analyses the tables as
autovacuum would, then makes the year's report through intake's own handler and returns the
median seconds of three runs after one warm-up run. Synthetic data only.

``python -m bench.report`` does the same against ``--database-url`` (or ``DATABASE_URL``),
or against a throwaway embedded PostgreSQL when neither is given, and prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

import asyncpg

from schemas import outcome_measures
from schemas.codes import LocalAuthority, RejectionReason, Service, Source
from services.plumbing import db, migrations
from services.referral_intake.domain.performance import age_band
from services.referral_intake.domain.periods import Period
from services.referral_intake.handlers import reports

SCHEMA = "bench_report"
YEAR = Period(date(2026, 4, 1), date(2027, 3, 31))
NOW = datetime(2027, 4, 20, tzinfo=UTC)
"""When the bench's report is made: three weeks after the year ended."""
INTAKE_MIGRATIONS = Path(__file__).resolve().parents[1] / "services/referral_intake/migrations"

# The seeds' annual volumes per service (seeds-digest §5.1) set the mix.
SERVICE_WEIGHTS = {"VAL": 15564, "IDVA": 2421, "ISVA": 1622, "CLIMB": 355, "DIVERT": 741}
SUB_SERVICES = {
    "VAL": (("core", 0.9), ("consent_contact", 0.1)),
    "IDVA": (("core", 0.7), ("hidva", 0.2), ("ypidva", 0.1)),
    "ISVA": (("adult", 0.8), ("child", 0.2)),
    "CLIMB": (("core", 1.0),),
    "DIVERT": (("core", 1.0),),
}
CONTACT_HOURS = {"VAL": 120, "IDVA": 48, "ISVA": 48, "CLIMB": 120, "DIVERT": 120}
AREA_WEIGHTS = {
    "herefordshire": 0.16,
    "shropshire": 0.27,
    "telford_and_wrekin": 0.15,
    "worcestershire": 0.39,
    "outside_area": 0.03,
}
FACT_COLUMNS = (
    "referral_id",
    "service",
    "route_id",
    "routes",
    "received_at",
    "sub_service",
    "priority",
    "local_authority",
    "source",
    "age_band",
    "high_risk_da",
    "requested_at",
    "reached_at",
    "acknowledged_at",
    "accepted",
    "rejected",
    "rejection_reason",
    "first_contact_at",
    "contact_due_by",
    "code_deadline",
    "ended_at",
    "outcome_status",
    "engaged",
    "positive_outcome",
    "measures_reported",
    "measures_positive",
)
REFERRAL_COLUMNS = (
    "referral_id",
    "received_at",
    "status",
    "source",
    "local_authority",
    "facts",
    "submitted_by",
    "updated_at",
    "consent_status",
)
HOUR = 3600.0
DAY = 24 * HOUR


def _choice(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _referral_row(
    referral_id: uuid.UUID, received: datetime, status: str, source: str, area: str, age: int
) -> tuple[Any, ...]:
    """A row of intake's ``referrals`` table as ``seed`` copies it in: received and last
    submitted at ``received``, consent given, facts holding only the age (all the report
    reads)."""
    facts = f'{{"subject": {{"age": {age}}}}}'
    return (referral_id, received, status, source, area, facts, "bench", received, "given")


def synthetic(
    count: int, seed: int, bits: dict[str, int]
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """One referral row and its report rows at a time, reproducibly."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable mix, not a secret
    start, end = (t.timestamp() for t in YEAR.bounds())
    now = NOW.timestamp()
    services = list(SERVICE_WEIGHTS)
    areas = [a.value for a in LocalAuthority]
    # Drawn all at once: choosing with weights one at a time is most of the generator's cost.
    service_of = rng.choices(services, weights=list(SERVICE_WEIGHTS.values()), k=count)
    area_of = rng.choices(areas, weights=[AREA_WEIGHTS[a] for a in areas], k=count)
    subs = {
        s: ([name for name, _ in options], list(accumulate(w for _, w in options)))
        for s, options in SUB_SERVICES.items()
    }
    sources = [s.value for s in Source]
    reasons = [r.value for r in RejectionReason]
    measures = {
        s.value: [1 << bits[m] for m in outcome_measures.allowed(s) if m in bits] for s in Service
    }
    stamp = datetime.fromtimestamp

    for n in range(count):
        referral_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        received = start + rng.random() * (end - start)
        area = area_of[n]
        source = rng.choice(sources)
        service = service_of[n]
        age = rng.randint(10, 17) if service == "CLIMB" else rng.randint(13, 85)
        if rng.random() < 0.05:
            yield (
                _referral_row(referral_id, stamp(received, UTC), "no_service", source, area, age),
                [],
            )
            continue
        chain = [service]
        rows: list[tuple[Any, ...]] = []
        ended_all = True
        while chain:
            service = chain.pop()
            if rows:
                sub = "re_referral"
            else:
                names, cumulative = subs[service]
                sub = names[0] if len(names) == 1 else rng.choices(names, cum_weights=cumulative)[0]
            high_risk = service == "IDVA" and rng.random() < 0.8
            priority = "urgent" if high_risk else rng.choice(("high", "standard"))
            requested = received + 5 + len(rows) * 7 * HOUR
            reached = requested + rng.uniform(0.1, 30) * HOUR if rng.random() < 0.96 else None
            acknowledged = accepted = rejected = None
            reason = contact = ended = outcome = None
            positive = reported = 0
            if reached is not None and rng.random() < 0.95:
                acknowledged = reached + rng.uniform(0, 10) * HOUR
                if rng.random() < 0.9 or service == "VAL":
                    accepted = True
                else:
                    rejected = True
                    reason = rng.choice(reasons)
                    ended = acknowledged
                    chain.append("VAL")
            if accepted and rng.random() < 0.85:
                contact = acknowledged + rng.uniform(1, 100) * HOUR  # type: ignore[operator]
            if accepted:
                closes = (contact or acknowledged or requested) + rng.uniform(5, 150) * DAY
                if closes < now:
                    ended = closes
                    outcome = "completed" if contact and rng.random() < 0.85 else "failed"
                    if outcome == "completed":
                        for mask in measures[service]:
                            if rng.random() < 0.8:
                                reported |= mask
                                if rng.random() < 0.85:
                                    positive |= mask
            if ended is None:
                ended_all = False
            rows.append(
                (
                    referral_id,
                    service,
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    1,
                    stamp(received, UTC),
                    sub,
                    priority,
                    area,
                    source,
                    age_band(age),
                    high_risk,
                    stamp(requested, UTC),
                    stamp(reached, UTC) if reached else None,
                    stamp(acknowledged, UTC) if acknowledged else None,
                    bool(accepted),
                    bool(rejected),
                    reason,
                    stamp(contact, UTC) if contact else None,
                    stamp(requested + CONTACT_HOURS[service] * HOUR, UTC),
                    stamp(requested + 48 * HOUR, UTC),
                    stamp(ended, UTC) if ended else None,
                    outcome,
                    contact is not None,
                    (positive != 0) if reported else None,
                    reported,
                    positive,
                )
            )
        status = "closed" if ended_all else "routed"
        yield _referral_row(referral_id, stamp(received, UTC), status, source, area, age), rows


async def seed(conn: asyncpg.Connection, referrals: int, seed_value: int) -> int:
    """COPY the referrals and their report rows in batches; returns the report rows."""
    batch_referrals: list[tuple[Any, ...]] = []
    batch_facts: list[tuple[Any, ...]] = []
    facts = 0

    async def flush() -> None:
        await conn.copy_records_to_table(
            "referrals", records=batch_referrals, columns=REFERRAL_COLUMNS
        )
        await conn.copy_records_to_table("report_facts", records=batch_facts, columns=FACT_COLUMNS)
        batch_referrals.clear()
        batch_facts.clear()

    bits = {r["name"]: r["bit"] for r in await conn.fetch("SELECT bit, name FROM report_measures")}
    for referral, rows in synthetic(referrals, seed_value, bits):
        batch_referrals.append(referral)
        batch_facts.extend(rows)
        facts += len(rows)
        if len(batch_referrals) >= 50_000:
            await flush()
    await flush()
    return facts


async def report_seconds(
    database_url: str, referrals: int = 1_000_000, *, runs: int = 3, seed_value: int = 2026
) -> float:
    """Seed ``referrals`` into ``database_url`` (schema ``bench_report``) and return the
    median seconds the year's report takes."""
    return float(
        (await measure(database_url, referrals, runs=runs, seed_value=seed_value))["seconds"]
    )


async def measure(
    database_url: str, referrals: int = 1_000_000, *, runs: int = 3, seed_value: int = 2026
) -> dict[str, Any]:
    await migrations.ensure_database(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await conn.close()
    await migrations.apply(
        database_url,
        SCHEMA,
        {"plumbing": migrations.PLUMBING_MIGRATIONS, "referral_intake": INTAKE_MIGRATIONS},
    )
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    try:
        facts = await seed(conn, referrals, seed_value)
        for table in ("referrals", "report_facts"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    seeded = time.perf_counter() - started
    pool = await db.create_pool(database_url, SCHEMA, application_name="bench-report")
    try:
        report = await reports.performance(pool, YEAR, now=NOW)  # warm-up
        timings = []
        for _ in range(runs):
            t0 = time.perf_counter()
            report = await reports.performance(pool, YEAR, now=NOW)
            timings.append(time.perf_counter() - t0)
    finally:
        await pool.close()
    return {
        "benchmark": "report_seconds_1m" if referrals == 1_000_000 else "report_seconds",
        "referrals": referrals,
        "report_rows": facts,
        "period": YEAR.label,
        "seed_seconds": round(seeded, 1),
        "seconds": round(statistics.median(timings), 3),
        "runs": [round(t, 3) for t in timings],
        "referrals_in_report": report["totals"]["intake"]["received"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.database_url:
        result = asyncio.run(measure(args.database_url, args.referrals, runs=args.runs))
    else:
        from deploy.database_roles import new_password
        from deploy.localstack.ports import free_port
        from deploy.localstack.postgres import EmbeddedPostgres

        with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
            server = EmbeddedPostgres(
                Path(tmp) / "pgdata",
                free_port(),
                Path(tmp) / "postgres.log",
                password=new_password(),
                durable=False,
            )
            server.start()
            try:
                url = server.url("bench")
                result = asyncio.run(measure(url, args.referrals, runs=args.runs))
            finally:
                server.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
