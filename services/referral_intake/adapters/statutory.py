"""SQL for statutory referrals (migration 040): the flags that ask staff to refer to a
statutory body, from the decision that raised them to the supervisor's record that it was
done. Every function works in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.plumbing.db import Connection


async def raise_flags(
    conn: Connection,
    referral_id: uuid.UUID,
    flags: Collection[str],
    *,
    at: datetime,
    policy_version: str,
    full_assessment: bool,
) -> None:
    """Record the statutory ``flags`` a decision raised. A flag raised again after a full
    assessment had withdrawn it stands again. After a full assessment, a flag it no longer
    raises and that nobody acted on is withdrawn (it leaves the worklist; the report counts
    it as withdrawn)."""
    await conn.execute(
        """INSERT INTO statutory_referrals (referral_id, flag, raised_at, policy_version)
           SELECT $1, flag, $3, $4 FROM unnest($2::text[]) AS flag
           ON CONFLICT (referral_id, flag) DO UPDATE SET withdrawn_at = NULL
           WHERE statutory_referrals.withdrawn_at IS NOT NULL""",
        referral_id,
        list(flags),
        at,
        policy_version,
    )
    if full_assessment:
        await conn.execute(
            """UPDATE statutory_referrals SET withdrawn_at = $3
               WHERE referral_id = $1 AND NOT flag = ANY($2::text[])
                 AND made_at IS NULL AND withdrawn_at IS NULL""",
            referral_id,
            list(flags),
            at,
        )


async def lock(conn: Connection, referral_id: uuid.UUID, flag: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM statutory_referrals WHERE referral_id = $1 AND flag = $2
           FOR UPDATE""",
        referral_id,
        flag,
    )


async def record_made(
    conn: Connection,
    referral_id: uuid.UUID,
    flag: str,
    *,
    made_at: datetime,
    reference: str,
    recorded_by: str,
    recorded_at: datetime,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        """UPDATE statutory_referrals
           SET made_at = $3, reference = $4, recorded_by = $5, recorded_at = $6
           WHERE referral_id = $1 AND flag = $2
           RETURNING *""",
        referral_id,
        flag,
        made_at,
        reference,
        recorded_by,
        recorded_at,
    )
    assert row is not None
    return row


async def of_referral(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM statutory_referrals WHERE referral_id = $1 ORDER BY raised_at, flag",
            referral_id,
        )
    )


async def outstanding_for(
    conn: Connection, referral_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The flags still waiting for a record, per referral."""
    rows = await conn.fetch(
        """SELECT referral_id, flag FROM statutory_referrals
           WHERE referral_id = ANY($1::uuid[]) AND made_at IS NULL AND withdrawn_at IS NULL
           ORDER BY raised_at, flag""",
        list(referral_ids),
    )
    found: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        found.setdefault(row["referral_id"], []).append(row["flag"])
    return found


REPORT = """
SELECT s.flag,
       count(*) AS raised,
       count(*) FILTER (WHERE s.made_at IS NOT NULL) AS actioned,
       count(*) FILTER (WHERE s.made_at IS NULL AND s.withdrawn_at IS NULL) AS outstanding,
       count(*) FILTER (WHERE s.made_at IS NULL AND s.withdrawn_at IS NOT NULL) AS withdrawn,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY greatest(0, extract(epoch FROM s.made_at - s.raised_at)) / 3600
       ) FILTER (WHERE s.made_at IS NOT NULL) AS median_hours_to_action
FROM statutory_referrals s
JOIN referrals r USING (referral_id)
WHERE r.received_at >= $1 AND r.received_at < $2
  AND ($3::text IS NULL OR r.local_authority = $3)
GROUP BY s.flag
"""
"""Statutory flags of the referrals received in a period, by flag: raised, recorded as made
(``actioned``), still waiting, withdrawn by a later assessment, and the median time from the
decision that raised one to the referral being made (0 when it was made first)."""


async def report(
    conn: Connection, low: datetime, high: datetime, area: str | None
) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(REPORT, low, high, area)]
