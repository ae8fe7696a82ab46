"""The SLA watchdog: finds routes past a clock and reports each breach exactly once.

It reads the database, never in-memory timers, so a restart loses nothing; the
``sla_breaches`` primary key makes a breach count once across restarts and replicas. Each
route is handled in its own transaction, so a crash part-way through repeats nothing. The
clocks, and what a breach of each leads to, are ``domain.sla``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from schemas import events
from schemas.codes import RouteStatus, Service, Trigger
from services.plumbing import loops, outbox
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.plumbing.metrics import SLA_BREACHES
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import routes as route_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.domain.sla import SLA_CLOCKS, SlaClock
from services.referral_intake.handlers.common import (
    SOURCE,
    WATCHDOG,
    reassessment,
    refresh_referral_status,
    route_change,
)

log = logging.getLogger(__name__)
BATCH = 200


def _sla_event(
    kind: type[events.SlaBreached], route: route_store.StoredRoute, clock: SlaClock, now: datetime
) -> outbox.OutgoingEvent:
    return outgoing(
        kind(
            route_id=route.route_id,
            referral_id=route.referral_id,
            service=route.service,
            clock=clock.name,
            due_at=route.deadline(clock.deadline),
            detected_at=now,
            route_status=route.status,
        ),
        source=SOURCE,
        referral_id=route.referral_id,
    )


async def _breach(
    conn: Connection, route: route_store.StoredRoute, clock: SlaClock, now: datetime
) -> bool:
    """Report one breach; False when it was reported before."""
    if not await route_store.record_breach(
        conn, route.route_id, clock.name, route.deadline(clock.deadline), now
    ):
        return False
    produced = [_sla_event(events.SlaBreached, route, clock, now)]
    status = None
    if clock.escalates:
        status = RouteStatus.ESCALATED.value
        produced.append(_sla_event(events.Escalated, route, clock, now))
    elif clock.reroutes:
        referral = await referral_store.get(conn, route.referral_id, lock=True)
        assert referral is not None
        change = route_change(route)
        produced.append(
            await reassessment(
                conn, route.referral_id, referral.facts, Trigger.SLA_REROUTE, change=change
            )
        )
    await route_store.mark_breached(conn, route.route_id, status, now)
    await timeline_store.add(
        conn,
        route.referral_id,
        clock.timeline_event,
        now,
        actor=WATCHDOG,
        route_id=route.route_id,
        status=status,
        detail={
            "service": route.service.value,
            "clock": clock.name,
            "due_at": route.deadline(clock.deadline).isoformat(),
        },
    )
    await outbox.add(conn, produced)
    if status:
        await refresh_referral_status(conn, route.referral_id, now)
    SLA_BREACHES.labels(route.service.value, clock.name).inc()
    return True


async def check_deadlines(pool: asyncpg.Pool, now: datetime) -> int:
    """One pass over every clock; returns the number of breaches reported now."""
    reported = 0
    for clock in SLA_CLOCKS:
        while True:
            async with pool.acquire() as conn:
                candidates = await route_store.read(
                    conn,
                    overdue=route_store.Overdue(clock.deadline, clock.statuses, clock.name, now),
                    limit=BATCH,
                )
                for route in candidates:
                    # One transaction per route: the route is locked, then re-checked, since a
                    # provider may have acknowledged it a moment ago.
                    async with conn.transaction():
                        locked = await route_store.get(conn, route.route_id, lock=True)
                        if locked is None or not clock.runs_in(locked.status):
                            continue
                        reported += await _breach(conn, locked, clock, now)
            if len(candidates) < BATCH:
                break
    return reported


async def run(
    pool: asyncpg.Pool, interval: float, clock: Callable[[], datetime] | None = None
) -> None:
    """Check every ``interval`` seconds until cancelled; outlives database outages."""
    now = clock or (lambda: datetime.now(UTC))
    # Every series exists from the start at 0, so that an alert on increase() sees the first
    # breach after a restart (a series born at 1 has no increase).
    for service in Service:
        for known in SLA_CLOCKS:
            SLA_BREACHES.labels(service.value, known.name)

    async def step() -> None:
        reported = await check_deadlines(pool, now())
        if reported:
            log.info("SLA breaches reported", extra={"breaches": reported})

    await loops.every(interval, step, name="watchdog")
