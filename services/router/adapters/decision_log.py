"""The router's decision log: which policy version decided what, on which coded facts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime

from schemas.calendar import days_between
from schemas.events import ReferralFacts
from services.plumbing.db import Connection
from services.router.domain.explanation import route_names
from services.router.domain.reassessment import Plan

_INSERT = """INSERT INTO decisions (decision_id, referral_id, trigger_event, policy_version,
                                    decided_at, status, rule_ids, received_at, facts, routes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"""


@dataclass(frozen=True)
class Entry:
    decision_id: uuid.UUID
    trigger_event: uuid.UUID
    facts: ReferralFacts
    plan: Plan
    decided_at: datetime

    def row(self) -> tuple[object, ...]:
        return (
            self.decision_id,
            self.facts.referral_id,
            self.trigger_event,
            self.plan.policy_version,
            self.decided_at,
            self.plan.status.value,
            list(self.plan.rule_ids),
            self.facts.received_at,
            self.facts.model_dump(mode="json"),
            route_names(self.plan.dispatch),
        )


async def record(
    conn: Connection,
    *,
    decision_id: uuid.UUID,
    trigger_event: uuid.UUID,
    facts: ReferralFacts,
    plan: Plan,
    decided_at: datetime,
) -> None:
    entry = Entry(decision_id, trigger_event, facts, plan, decided_at)
    await conn.execute(_INSERT, *entry.row())


async def facts_received_between(
    conn: Connection, first: date, last: date
) -> AsyncIterator[ReferralFacts]:
    """The latest facts of every referral received from ``first`` to ``last`` (whole days in
    England: a referral received at 00:30 BST on 1 July was received on 1 July)."""
    start, end = days_between(first, last)
    async with conn.transaction():
        cursor = conn.cursor(
            """SELECT DISTINCT ON (referral_id) facts FROM decisions
               WHERE received_at >= $1 AND received_at < $2 AND facts IS NOT NULL
               ORDER BY referral_id, decided_at DESC""",
            start,
            end,
        )
        async for row in cursor:
            yield ReferralFacts.model_validate(row["facts"])


async def record_many(conn: Connection, entries: list[Entry]) -> None:
    """``record`` for several decisions, sent to the server together."""
    await conn.executemany(_INSERT, [e.row() for e in entries])
