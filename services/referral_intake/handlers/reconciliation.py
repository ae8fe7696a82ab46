"""Reconciliation: intake, as the system of record, notices a referral whose next event is
overdue and re-drives it.

- Received, but no decision came back: the ``referral.received.v1`` event is published again.
- Routed, but the provider's adapter never reported having the work item: the event that
  led to the decision is published again.

Every event keeps its id, and every consumer that has handled an event before publishes
again what it produced instead of handling it twice (``inbox.first_time_or_redrive``): so a
re-driven event finds its way through every hop, and nothing is duplicated. This is how the
hub survives a broker that forgot everything (the embedded one, on restart) or a lost
partition. Re-drives back off, so a stage that keeps failing is not hammered.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.plumbing import loops, outbox
from services.plumbing.db import Connection
from services.plumbing.metrics import REDRIVES
from services.referral_intake.adapters import reconciliation as reconciliation_store
from services.referral_intake.adapters import routes as route_store

log = logging.getLogger(__name__)
BATCH = 200
MAX_BACKOFF = timedelta(minutes=15)


async def _due(
    conn: Connection, subject: uuid.UUID, stage: str, now: datetime, grace: timedelta
) -> bool:
    previous = await reconciliation_store.reconciliation_attempts(conn, subject, stage)
    if previous is None:
        return True
    wait = min(grace * 2**previous.attempts, MAX_BACKOFF)
    return bool(now - previous.last_at >= wait)


async def _redrive(
    conn: Connection,
    subject: uuid.UUID,
    stage: str,
    event_id: uuid.UUID,
    now: datetime,
    grace: timedelta,
) -> bool:
    async with conn.transaction():
        if not await _due(conn, subject, stage, now, grace):
            return False
        redriven = await outbox.redrive_event(conn, event_id)
        await reconciliation_store.record_reconciliation(conn, subject, stage, now)
    if redriven:
        REDRIVES.labels(stage).inc()
    return redriven


UNROUTED, UNDELIVERED = "unrouted", "undelivered"
STAGES = (UNROUTED, UNDELIVERED)


async def reconcile(pool: asyncpg.Pool, now: datetime, grace: timedelta) -> int:
    """One pass; returns the number of events re-driven now."""
    redriven = 0
    async with pool.acquire() as conn:
        for stuck in await reconciliation_store.stuck_unrouted(conn, now - grace, BATCH):
            redriven += await _redrive(
                conn, stuck.referral_id, UNROUTED, stuck.event_id, now, grace
            )
        for route in await route_store.read(conn, undelivered_before=now - grace, limit=BATCH):
            assert route.trigger_event_id is not None  # undelivered_before selects only these
            redriven += await _redrive(
                conn, route.route_id, UNDELIVERED, route.trigger_event_id, now, grace
            )
    return redriven


async def run(pool: asyncpg.Pool, interval: float, grace: timedelta) -> None:
    for stage in STAGES:  # every series from 0, so the first re-drive is an increase
        REDRIVES.labels(stage)

    async def step() -> None:
        redriven = await reconcile(pool, datetime.now(UTC), grace)
        if redriven:
            log.info("re-drove overdue events", extra={"events": redriven})

    await loops.every(interval, step, name="reconciliation")
