"""What the fault suite checks after each fault: every referral reached the right provider
exactly once, and nothing is left in any outbox."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import httpx

from schemas.codes import Service
from tests.support.stack import RunningStack
from tests.support.waiting import TimedOut, eventually_sync

T = TypeVar("T")


def crime_reference(*parts: object) -> str:
    """A crime reference, in the characters a police reference may hold (letters, digits,
    ``/`` and ``-``), naming the test's ``parts`` (a process name such as
    ``provider_adapter.VAL#2`` among them) and unique as they are."""
    return "/".join(re.sub(r"[^A-Za-z0-9]+", "-", str(part)) for part in parts)


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def in_background(work: Callable[[], T]) -> Future[T]:
    """Run ``work`` in a thread (the fault, while the test submits referrals). Its
    ``result(timeout)`` raises whatever ``work`` raised, so a check made in the thread fails
    the test instead of dying with it."""
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        return executor.submit(work)
    finally:
        executor.shutdown(wait=False)


@dataclass
class Submitter:
    """Submits referrals as the upstream UI would: on a refused connection or a 503 it
    tries again with the same Idempotency-Key."""

    staff: httpx.Client
    answers: Counter[int] = field(default_factory=Counter)
    retry_after_seen: bool = False

    def submit(self, body: dict[str, Any], *, timeout: float = 120.0) -> str:
        key = str(uuid.uuid4())
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = self.staff.post(
                    "/v1/referrals", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.TransportError:
                self.answers[0] += 1
            else:
                self.answers[response.status_code] += 1
                if response.status_code in (200, 202):
                    referral_id: str = response.json()["referral_id"]
                    return referral_id
                assert response.status_code == 503, response.text  # never a 500
                assert "Traceback" not in response.text
                self.retry_after_seen = self.retry_after_seen or "retry-after" in response.headers
            if time.monotonic() > deadline:
                raise AssertionError(f"could not submit within {timeout}s: {dict(self.answers)}")
            time.sleep(0.2)


async def _delivery(database_url: str, referral_ids: list[str], service: Service) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        routes = await conn.fetch(
            """SELECT referral_id::text AS id, count(*) AS n FROM intake.routes
               WHERE referral_id = ANY($1::uuid[]) AND service = $2 GROUP BY 1""",
            referral_ids,
            service.value,
        )
        table = f"adapter_{service.value.lower()}.work_items"
        items = await conn.fetch(
            f"""SELECT referral_id::text AS id, count(*) AS n FROM {table}
                WHERE referral_id = ANY($1::uuid[]) GROUP BY 1""",  # noqa: S608 - a known schema name
            referral_ids,
        )
        queued = await conn.fetch(
            """SELECT referral_id::text AS id, count(*) AS n FROM intake.timeline
               WHERE referral_id = ANY($1::uuid[]) AND event = 'queued' GROUP BY 1""",
            referral_ids,
        )
    finally:
        await conn.close()
    return {
        "routes": {r["id"]: r["n"] for r in routes},
        "work_items": {r["id"]: r["n"] for r in items},
        "queued": {r["id"]: r["n"] for r in queued},
    }


def assert_each_reached_its_provider_once(
    hub: RunningStack, referral_ids: list[str], service: Service, timeout: float = 120.0
) -> None:
    """Eventually every referral has one route to ``service``, the adapter one work item for
    it, and intake has heard the adapter has it; never two of anything."""
    database_url = hub.info()["database_url"]

    last: dict[str, Any] = {}

    def complete() -> dict[str, Any] | None:
        seen = asyncio.run(_delivery(database_url, referral_ids, service))
        last.update(seen)
        for counts in seen.values():
            assert all(n == 1 for n in counts.values()), f"something happened twice: {seen}"
        done = all(len(counts) == len(referral_ids) for counts in seen.values())
        return seen if done else None

    try:
        eventually_sync(
            complete,
            timeout=timeout,
            interval=0.5,
            what=f"all {len(referral_ids)} referrals to reach {service.value} exactly once",
        )
    except TimedOut as timed_out:
        missing = {
            stage: [i for i in referral_ids if i not in counts] for stage, counts in last.items()
        }
        raise TimedOut(
            f"{timed_out}\nmissing at each stage: {missing}\n"
            f"what the hub warned about:\n{warnings(hub)}"
        ) from None


def warnings(hub: RunningStack, most: int = 40) -> str:
    """What the hub's processes warned about, each kind of line once (the last of its kind,
    with how many there were), the ``most`` latest kinds, then the supervisor's own lines:
    what a failed fault test prints to explain itself (the logs hold no personal data)."""
    kinds: dict[tuple[str, str, str], tuple[str, int]] = {}
    for path in sorted((hub.state_dir / "logs").glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") not in ("WARNING", "ERROR", "CRITICAL"):
                continue
            kind = (path.stem, str(entry.get("logger")), str(entry.get("message"))[:160])
            kinds[kind] = (str(entry.get("time")), kinds.get(kind, ("", 0))[1] + 1)
    latest = sorted(kinds.items(), key=lambda item: item[1][0])[-most:]
    supervisor = [
        line for line in hub.output.read_text(errors="replace").splitlines() if line[:2].isdigit()
    ]
    return "\n".join(
        [*(f"{t} {svc} {logger} x{n}: {msg}" for (svc, logger, msg), (t, n) in latest), *supervisor]
    )


async def _undrained(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        schemas = [
            r["table_schema"]
            for r in await conn.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"
            )
        ]
        counts = {}
        for schema in schemas:
            counts[schema] = int(
                await conn.fetchval(
                    f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'  # noqa: S608
                )
            )
        return counts
    finally:
        await conn.close()


def assert_outboxes_drain(hub: RunningStack, timeout: float = 60.0) -> None:
    database_url = hub.info()["database_url"]
    eventually_sync(
        lambda: not any(asyncio.run(_undrained(database_url)).values()),
        timeout=timeout,
        interval=0.5,
        what="every outbox to be published",
    )


async def _redriven(database_url: str, referral_ids: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT stage, count(*)::int AS n FROM intake.reconciliation
               WHERE subject = ANY($1::uuid[])
                  OR subject IN (SELECT route_id FROM intake.routes
                                 WHERE referral_id = ANY($1::uuid[]))
               GROUP BY stage""",
            referral_ids,
        )
    finally:
        await conn.close()
    return {r["stage"]: r["n"] for r in rows}


def redriven(hub: RunningStack, referral_ids: list[str]) -> dict[str, int]:
    """How many of these referrals (``unrouted``) and of their routes (``undelivered``)
    intake's reconciliation re-drove: none, when every hop delivered on its own."""
    return asyncio.run(_redriven(hub.info()["database_url"], referral_ids))
