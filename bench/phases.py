"""The measured phases of ``make bench``, each against the bench's own running hub.

Every figure is paired with its baseline measured in the same run, on the same machine:
intake against plain asyncpg inserts of the same rows at the same concurrency, the router
against a plain aiokafka consume-and-produce of the same events.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.http_client import Client
from bench.referrals import referral
from bench.stack import SERVICES, Hub
from schemas import topics
from services.plumbing import db

PASSTHROUGH_TOPIC = "bench.passthrough.v1"
ROUTER_GROUP = "router.received"
HUB_SCHEMAS = ("intake", "router", *(f"adapter_{s.lower()}" for s in SERVICES))


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _staff(hub: Hub) -> Client:
    info = hub.info()
    return Client(info["intake_url"], {"Authorization": f"Bearer {info['staff_tokens']['triage']}"})


def _requests(client: Client, count: int, first: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)  # noqa: S311 - a repeatable mix, not a secret
    return [client.render("POST", "/v1/referrals", referral(rng, first + n)) for n in range(count)]


# ---- intake: sustained submissions, closed loop -------------------------------------------


async def intake_load(
    hub: Hub, *, concurrency: int, seconds: float, warmup: float, max_rate: int
) -> dict[str, Any]:
    """``concurrency`` clients each submitting a referral as soon as the last one was
    answered, for ``warmup`` + ``seconds``; the rate counts the 202s after the warm-up."""
    client = _staff(hub)
    requests = _requests(client, int(max_rate * (seconds + warmup)), first=1_000_000, seed=1)
    next_index = 0
    counted = 0
    errors: dict[int, int] = {}
    latencies: list[float] = []
    started = time.perf_counter()
    measure_from = started + warmup
    end = measure_from + seconds

    async def worker() -> None:
        nonlocal next_index, counted
        while True:
            now = time.perf_counter()
            if now >= end or next_index >= len(requests):
                return
            raw = requests[next_index]
            next_index += 1
            response = await client.send(raw)
            done = time.perf_counter()
            if response.status != 202:
                errors[response.status] = errors.get(response.status, 0) + 1
            elif now >= measure_from and done <= end:
                counted += 1
                latencies.append(done - now)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    client.close()
    latencies.sort()
    return {
        "intake_per_s": round(counted / seconds, 1),
        "intake_requests": next_index,
        "intake_errors": errors,
        "intake_latency_p50_ms": round(_percentile(latencies, 0.5) * 1000, 1),
        "intake_latency_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "concurrency": concurrency,
        "seconds": seconds,
    }


# ---- the raw database baseline -----------------------------------------------------------

_RAW_TABLES = ("referrals", "vault", "timeline", "outbox")


async def raw_insert(hub: Hub, *, concurrency: int, seconds: float) -> dict[str, Any]:
    """The rows one submission writes (referral, vault entry, timeline entry, outbox row),
    copied from what intake stored, inserted again with plain asyncpg, one transaction per
    referral, by ``concurrency`` connections: what the database allows without any logic."""
    admin = await db.connect(hub.database_url)
    try:
        await admin.execute("DROP SCHEMA IF EXISTS bench_raw CASCADE; CREATE SCHEMA bench_raw")
        for table in _RAW_TABLES:
            await admin.execute(
                f"CREATE TABLE bench_raw.{table} (LIKE intake.{table} INCLUDING ALL)"
            )
        samples = await admin.fetch(
            "SELECT referral_id FROM intake.referrals ORDER BY received_at DESC LIMIT 200"
        )
        ids = [r["referral_id"] for r in samples]
        rows: dict[str, list[dict[str, Any]]] = {}
        for table in _RAW_TABLES:
            if table == "outbox":
                found: list[Any] = await admin.fetch(
                    "SELECT * FROM intake.outbox WHERE key = ANY($1::text[])",
                    [str(i) for i in ids],
                )
            else:
                found = await admin.fetch(
                    f"SELECT * FROM intake.{table} WHERE referral_id = ANY($1::uuid[])",  # noqa: S608 - a fixed table name
                    ids,
                )
            rows[table] = [dict(r) for r in found]
    finally:
        await admin.close()
    by_referral: dict[str, dict[str, dict[str, Any]]] = {}
    for table, found in rows.items():
        for row in found:
            key = str(row.get("referral_id") or row.get("key"))
            by_referral.setdefault(key, {}).setdefault(table, row)
    templates = [t for t in by_referral.values() if len(t) == len(_RAW_TABLES)]
    if not templates:
        return {"raw_insert_per_s": None, "raw_insert_note": "no intake rows to copy"}

    def statement(table: str, row: dict[str, Any]) -> tuple[str, list[str]]:
        columns = [c for c in row if not (c == "id" and table in ("timeline", "outbox"))]
        placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        return (
            # Table and column names come from intake's own tables, never from input.
            f"INSERT INTO bench_raw.{table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
            columns,
        )

    sqls = {table: statement(table, templates[0][table]) for table in _RAW_TABLES}
    pool = await db.create_pool(
        hub.database_url, "bench_raw", application_name="bench-raw", max_size=concurrency
    )
    done = 0
    end = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        while time.perf_counter() < end:
            template = templates[(done + n) % len(templates)]
            referral_id = uuid.uuid4()
            async with pool.acquire() as conn, conn.transaction():
                for table in _RAW_TABLES:
                    sql, columns = sqls[table]
                    row = dict(template[table])
                    if "referral_id" in row:
                        row["referral_id"] = referral_id
                    if table == "referrals":
                        row["idempotency_key"] = None
                    if table == "outbox":
                        row["event_id"] = uuid.uuid4()
                        row["key"] = str(referral_id)
                    await conn.execute(sql, *(row[c] for c in columns))
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return {"raw_insert_per_s": round(done / elapsed, 1), "raw_insert_rows_per_referral": 4}


# ---- Kafka: the raw passthrough baseline and the router --------------------------------


async def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def preload_referral_events(hub: Hub, *, events: int) -> dict[str, Any]:
    """Put ``events`` referral.received.v1 events (synthetic coded facts, in the policy
    bench's mix) on the broker for the router and passthrough phases, on top of those
    intake produced. Their referrals are unknown to intake, which ignores their decisions;
    the adapters store their work items as for any other."""
    from bench.policy import synthetic
    from schemas import events as event_models
    from schemas.envelope import envelope

    rng = random.Random(7)  # noqa: S311 - a repeatable mix, not a secret
    producer = AIOKafkaProducer(bootstrap_servers=hub.bootstrap_servers, acks="all")
    await producer.start()
    try:
        acks = []
        for _ in range(events):
            facts = synthetic(rng)
            body = envelope(
                source="referral_intake",
                type_=event_models.REFERRAL_RECEIVED,
                subject=facts.referral_id,
                data=event_models.ReferralReceived(facts=facts),
            )
            acks.append(
                await producer.send(
                    topics.REFERRAL_RECEIVED,
                    value=json.dumps(body, separators=(",", ":")).encode(),
                    key=str(facts.referral_id).encode(),
                    headers=[("content-type", b"application/cloudevents+json")],
                )
            )
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return {"preloaded_events": events}


async def events_on(hub: Hub, topic: str) -> int:
    """How many events ``topic`` holds (the hub's router is paused from the start, so all of
    referral.received.v1 is its backlog)."""
    return sum((await _end_offsets(hub.bootstrap_servers, topic)).values())


async def raw_passthrough(hub: Hub, *, events: int) -> dict[str, Any]:
    """Plain aiokafka, no logic: consume the pre-loaded referral events in batches and
    produce each to another topic, awaiting the acknowledgements of a batch together, then
    commit. The ceiling for any consumer that publishes what it reads, on this broker."""
    bootstrap = hub.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(PASSTHROUGH_TOPIC, topics.PARTITIONS, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topics.REFERRAL_RECEIVED,
        bootstrap_servers=bootstrap,
        group_id=f"bench-passthrough-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()
    moved = 0
    started: float | None = None
    try:
        deadline = time.monotonic() + 120
        while moved < events and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batches:
                continue
            if started is None:
                started = time.perf_counter()
            acks = []
            for records in batches.values():
                for record in records:
                    acks.append(
                        await producer.send(
                            PASSTHROUGH_TOPIC,
                            value=record.value,
                            key=record.key,
                            headers=list(record.headers),
                        )
                    )
            await asyncio.gather(*acks)
            await consumer.commit()
            moved += len(acks)
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "raw_passthrough_per_s": round(moved / elapsed, 1) if elapsed > 0 else None,
        "raw_passthrough_events": moved,
    }


async def router_drain(hub: Hub, *, limit_seconds: float) -> dict[str, Any]:
    """The router, paused while the events were loaded, is let go on them alone (the other
    services paused, so that nothing else competes for the CPU): decode, policy, decision
    log, outbox rows for the decision and every work item, offset commit, and the relay's
    publishing of all of it. The rate runs from its first decision to its last published
    event, so the consumer group's rejoin after the pause is not counted."""
    backlog = await events_on(hub, topics.REFERRAL_RECEIVED)
    pool = await db.create_pool(hub.database_url, "router", application_name="bench-router")
    try:
        async with pool.acquire() as conn:
            before = await conn.fetchval("SELECT coalesce(max(decided_at), now()) FROM decisions")
        hub.pause("referral_intake", *(f"provider_adapter.{s}" for s in SERVICES))
        hub.resume("router")
        deadline = time.monotonic() + limit_seconds
        finished = False
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            async with pool.acquire() as conn:
                decided = await conn.fetchval(
                    "SELECT count(*) FROM decisions WHERE decided_at > $1", before
                )
                unpublished = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
            if decided >= backlog and unpublished == 0:
                finished = True
                break
        async with pool.acquire() as conn:
            window = await conn.fetchrow(
                """SELECT count(*) AS decisions, min(decided_at) AS first,
                          (SELECT count(*) FROM outbox o WHERE o.created_at >= min(d.decided_at))
                              AS events_out,
                          (SELECT max(published_at) FROM outbox) AS last
                   FROM decisions d WHERE decided_at > $1""",
                before,
            )
    finally:
        await pool.close()
        hub.resume("referral_intake", *(f"provider_adapter.{s}" for s in SERVICES))
    assert window is not None
    seconds = (
        (window["last"] - window["first"]).total_seconds()
        if window["first"] and window["last"]
        else 0.0
    )
    return {
        "router_throughput_per_s": round(window["decisions"] / seconds, 1) if seconds else None,
        "router_events": window["decisions"],
        "router_events_published": window["events_out"],
        "router_backlog": backlog,
        "router_finished": finished,
        "router_seconds": round(seconds, 2),
    }


async def settle(hub: Hub, *, limit_seconds: float) -> dict[str, Any]:
    """Wait until the hub has caught up with everything: every referral decided and its
    decision projected by intake, every dispatched route stored by its adapter, and every
    outbox empty (read from the databases; the broker's group offsets are not needed)."""
    deadline = time.monotonic() + limit_seconds
    started = time.monotonic()
    conn = await db.connect(hub.database_url)
    left = -1
    try:
        while time.monotonic() < deadline:
            left = await conn.fetchval(
                "SELECT count(*) FROM intake.referrals WHERE decision IS NULL"
            )
            routes = await conn.fetchval(
                "SELECT coalesce(sum(array_length(routes, 1)), 0) FROM router.decisions"
            )
            for service in SERVICES:
                table = f"adapter_{service.lower()}.work_items"
                routes -= await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            left += abs(routes)
            for schema in HUB_SCHEMAS:
                left += await conn.fetchval(
                    f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"  # noqa: S608
                )
            if left == 0:
                break
            await asyncio.sleep(1)
    finally:
        await conn.close()
    return {"settled": left == 0, "settle_seconds": round(time.monotonic() - started, 1)}


# ---- end to end: open loop at a fixed rate --------------------------------------------


async def e2e(hub: Hub, *, rate: float, seconds: float, grace: float) -> dict[str, Any]:
    """Submissions at a fixed rate (open loop: each is sent on schedule whether or not the
    earlier ones were answered), then the time from each 202 to the moment the provider's
    adapter stored the work item (``queued_at`` in its ``work_items`` table, written by the
    adapter's transaction). A referral that was not decided, or whose decision dispatched
    routes whose work items did not all arrive, within ``grace`` seconds of the end of the
    load is lost (the hub is given that long to work off any backlog)."""
    client = _staff(hub)
    total = int(rate * seconds)
    requests = _requests(client, total, first=5_000_000, seed=2)
    accepted: dict[str, float] = {}
    errors: dict[str, int] = {}
    late: list[float] = []

    async def send(raw: bytes, due: float) -> None:
        try:
            response = await client.send(raw)
        except Exception as exc:  # counted, never fatal: an open loop keeps going
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if response.status == 202:
            accepted[response.json()["referral_id"]] = time.time()
        else:
            errors[str(response.status)] = errors.get(str(response.status), 0) + 1

    start = time.perf_counter() + 0.2
    tasks = []
    for n, raw in enumerate(requests):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late.append(-delay)
        tasks.append(asyncio.create_task(send(raw, due)))
    await asyncio.gather(*tasks)
    sent_seconds = time.perf_counter() - start
    client.close()

    conn = await db.connect(hub.database_url)
    ids = [uuid.UUID(i) for i in accepted]
    stored: dict[uuid.UUID, list[Any]] = {}
    expected: dict[uuid.UUID, int] = {}
    deadline = time.monotonic() + grace
    waited_from = time.monotonic()
    try:
        while True:
            decisions = await conn.fetch(
                """SELECT DISTINCT ON (referral_id) referral_id,
                          coalesce(array_length(routes, 1), 0) AS routes
                   FROM router.decisions WHERE referral_id = ANY($1::uuid[])
                   ORDER BY referral_id, decided_at""",
                ids,
            )
            expected = {r["referral_id"]: r["routes"] for r in decisions}
            stored = {}
            for service in SERVICES:
                table = f"adapter_{service.lower()}.work_items"
                rows = await conn.fetch(
                    f"SELECT referral_id, min(queued_at) AS at FROM {table} "  # noqa: S608
                    "WHERE referral_id = ANY($1::uuid[]) GROUP BY referral_id",
                    ids,
                )
                for row in rows:
                    stored.setdefault(row["referral_id"], []).append(row["at"])
            missing = [
                i for i in ids if i not in expected or len(stored.get(i, [])) < expected.get(i, 0)
            ]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await conn.close()
    waited = time.monotonic() - waited_from
    latencies = sorted(
        max(stored[i]).timestamp() - accepted[str(i)]
        for i in ids
        if expected.get(i, 0) > 0 and len(stored.get(i, [])) >= expected[i]
    )
    return {
        "e2e_rate_per_s": round(len(accepted) / sent_seconds, 1),
        "e2e_offered_per_s": rate,
        "e2e_seconds": seconds,
        "e2e_accepted": len(accepted),
        "e2e_errors": errors,
        "e2e_with_routes": sum(1 for i in ids if expected.get(i, 0) > 0),
        "e2e_p50_ms": round(_percentile(latencies, 0.50) * 1000, 1),
        "e2e_p95_ms": round(_percentile(latencies, 0.95) * 1000, 1),
        "e2e_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "e2e_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "e2e_sends_late_over_10ms": sum(1 for d in late if d > 0.01),
        "e2e_waited_after_load_s": round(waited, 1),
        "lost": len(missing),
    }
