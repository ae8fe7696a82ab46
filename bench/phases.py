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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.http_client import Client
from bench.referrals import referral
from bench.stack import SERVICES, Hub
from schemas import topics
from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess

PASSTHROUGH_TOPIC = "bench.passthrough.v1"


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
    accepted = 0
    errors: dict[int, int] = {}
    latencies: list[float] = []
    started = time.perf_counter()
    measure_from = started + warmup
    end = measure_from + seconds

    async def worker() -> None:
        nonlocal next_index, counted, accepted
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
                continue
            accepted += 1
            if now >= measure_from and done <= end:
                counted += 1
                latencies.append(done - now)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    client.close()
    latencies.sort()
    return {
        "intake_per_s": round(counted / seconds, 1),
        "intake_requests": next_index,
        "intake_accepted": accepted,
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


async def _end_offsets(kafka: KafkaAccess, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka.client_options())
    await consumer.start()
    try:
        # A client that subscribes to nothing has metadata for nothing: name the topic.
        await consumer._client.set_topics([topic])
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
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **hub.kafka.client_options())
    await producer.start()
    try:
        acks = []
        for _ in range(events):
            facts = synthetic(rng)
            received = event_models.ReferralReceived(facts=facts)
            body = envelope(
                source="referral_intake",
                type_=received.TYPE,
                subject=facts.referral_id,
                data=received,
            )
            acks.append(
                await producer.send(
                    received.topic,
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
    return sum((await _end_offsets(hub.kafka, topic)).values())


async def raw_passthrough(hub: Hub, *, events: int) -> dict[str, Any]:
    """Plain aiokafka, no logic: consume the pre-loaded referral events in batches and
    produce each to another topic, awaiting the acknowledgements of a batch together, then
    commit. The ceiling for any consumer that publishes what it reads, on this broker."""
    kafka = hub.kafka
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(PASSTHROUGH_TOPIC, topics.PARTITIONS, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topics.REFERRAL_RECEIVED,
        **kafka.client_options(),
        group_id=f"bench-passthrough-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=True, linger_ms=0, **kafka.client_options()
    )
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


# ---- end to end: open loop at a fixed rate, then the backlog drained ------------------


@dataclass
class Load:
    """What an open-loop run sent and what intake answered."""

    offered: float
    seconds: float
    started_at: float
    """Wall-clock time (``time.time()``) of the first send."""
    sent_seconds: float
    accepted: dict[uuid.UUID, float] = field(default_factory=dict)
    """Referral id: wall-clock time of its 202."""
    intake_latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    late: int = 0


async def open_loop(hub: Hub, *, rate: float, seconds: float, first: int, seed: int) -> Load:
    """Submissions at a fixed rate (open loop: each is sent on schedule whether or not the
    earlier ones were answered)."""
    client = _staff(hub)
    requests = _requests(client, int(rate * seconds), first=first, seed=seed)
    load = Load(offered=rate, seconds=seconds, started_at=0.0, sent_seconds=0.0)

    async def send(raw: bytes) -> None:
        sent = time.perf_counter()
        try:
            response = await client.send(raw)
        except Exception as exc:  # counted, never fatal: an open loop keeps going
            load.errors[type(exc).__name__] = load.errors.get(type(exc).__name__, 0) + 1
            return
        if response.status == 202:
            load.accepted[uuid.UUID(response.json()["referral_id"])] = time.time()
            load.intake_latencies.append(time.perf_counter() - sent)
        else:
            load.errors[str(response.status)] = load.errors.get(str(response.status), 0) + 1

    start = time.perf_counter() + 0.2
    load.started_at = time.time() + 0.2
    tasks = []
    for n, raw in enumerate(requests):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.01:
            load.late += 1
        tasks.append(asyncio.create_task(send(raw)))
    await asyncio.gather(*tasks)
    load.sent_seconds = time.perf_counter() - start
    client.close()
    return load


@dataclass
class Arrivals:
    """Where each accepted referral got to: decided (and how many routes it dispatched),
    and when each of its routes' work items was stored by its adapter."""

    decided_at: dict[uuid.UUID, datetime] = field(default_factory=dict)
    routes: dict[uuid.UUID, int] = field(default_factory=dict)
    stored: dict[uuid.UUID, list[datetime]] = field(default_factory=dict)

    def arrived_at(self, referral_id: uuid.UUID) -> datetime | None:
        """When the referral's last work item was stored (its decision, when it dispatched
        no route); None while it has not all arrived."""
        if referral_id not in self.decided_at:
            return None
        wanted = self.routes[referral_id]
        if wanted == 0:
            return self.decided_at[referral_id]
        stored = self.stored.get(referral_id, [])
        return max(stored) if len(stored) >= wanted else None


async def _arrivals(conn: Any, ids: list[uuid.UUID]) -> Arrivals:
    found = Arrivals()
    for row in await conn.fetch(
        """SELECT DISTINCT ON (referral_id) referral_id, decided_at,
                  coalesce(array_length(routes, 1), 0) AS routes
           FROM router.decisions WHERE referral_id = ANY($1::uuid[])
           ORDER BY referral_id, decided_at""",
        ids,
    ):
        found.decided_at[row["referral_id"]] = row["decided_at"]
        found.routes[row["referral_id"]] = row["routes"]
    for service in SERVICES:
        table = f"adapter_{service.lower()}.work_items"
        for row in await conn.fetch(
            f"SELECT referral_id, min(queued_at) AS at FROM {table} "  # noqa: S608
            "WHERE referral_id = ANY($1::uuid[]) GROUP BY referral_id",
            ids,
        ):
            found.stored.setdefault(row["referral_id"], []).append(row["at"])
    return found


async def follow(
    hub: Hub, load: Load, *, limit_seconds: float, stall_seconds: float, prefix: str
) -> dict[str, Any]:
    """After the load, wait for every accepted referral to reach its adapters (bounded):
    until all have, or none has arrived for ``stall_seconds`` (the hub has stopped making
    progress: what is missing then is lost), or ``limit_seconds`` have passed (what is
    missing then was still on its way: reported as ``still_arriving``, not as lost).

    Latency runs from each referral's 202 to its adapters having stored the last of its
    work items (``queued_at`` of the adapters' ``work_items`` rows, written by the adapter's
    own transaction: nothing is added to the services to observe it)."""
    ids = list(load.accepted)
    conn = await db.connect(hub.database_url)
    waited_from = time.monotonic()
    last_progress = waited_from
    arrived = -1
    outcome = "limit"
    try:
        while True:
            found = await _arrivals(conn, ids)
            now_arrived = sum(1 for i in ids if found.arrived_at(i) is not None)
            now = time.monotonic()
            if now_arrived > arrived:
                arrived, last_progress = now_arrived, now
            if arrived == len(ids):
                outcome = "drained"
                break
            if now - last_progress > stall_seconds:
                outcome = "stalled"
                break
            if now - waited_from > limit_seconds:
                break
            await asyncio.sleep(1)
    finally:
        await conn.close()
    finished = time.monotonic() - waited_from
    load_end = load.started_at + load.sent_seconds
    latencies: list[float] = []
    done_during_load = 0
    for i in ids:
        at = found.arrived_at(i)
        if at is None:
            continue
        if found.routes[i] > 0:
            latencies.append(at.timestamp() - load.accepted[i])
        if at.timestamp() <= load_end:
            done_during_load += 1
    latencies.sort()
    missing = len(ids) - arrived
    intake = sorted(load.intake_latencies)
    return {
        f"{prefix}_offered_per_s": load.offered,
        f"{prefix}_seconds": load.seconds,
        f"{prefix}_rate_per_s": round(len(ids) / load.sent_seconds, 1),
        f"{prefix}_accepted": len(ids),
        f"{prefix}_errors": load.errors,
        f"{prefix}_sends_late_over_10ms": load.late,
        f"{prefix}_intake_p50_ms": _ms(_percentile(intake, 0.50)),
        f"{prefix}_intake_p99_ms": _ms(_percentile(intake, 0.99)),
        f"{prefix}_with_routes": sum(1 for i in ids if found.routes.get(i, 0) > 0),
        f"{prefix}_p50_ms": _ms(_percentile(latencies, 0.50)),
        f"{prefix}_p95_ms": _ms(_percentile(latencies, 0.95)),
        f"{prefix}_p99_ms": _ms(_percentile(latencies, 0.99)),
        f"{prefix}_max_ms": _ms(latencies[-1]) if latencies else None,
        f"{prefix}_completed_during_load_per_s": round(done_during_load / load.sent_seconds, 1),
        f"{prefix}_drained_in_s": round(finished, 1) if outcome == "drained" else None,
        f"{prefix}_wait_ended": outcome,
        f"{prefix}_still_arriving": missing if outcome == "limit" else 0,
        f"{prefix}_lost": missing if outcome != "limit" else None,
    }


def _ms(seconds: float) -> float | None:
    return None if seconds != seconds else round(seconds * 1000, 1)  # NaN: no values
