"""A supervisor records that a statutory referral was made (who, when, the other agency's
reference): the flag leaves the worklist, the timeline shows it, the report counts it. The
reference stays in intake: it never reaches the bus or the logs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas.refusals import Refused
from services.referral_intake.adapters import statutory as sql
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.domain.statutory import status_of
from services.referral_intake.handlers.common import locked_referral

TIMELINE_EVENT = "statutory_referral_recorded"


def view(row: asyncpg.Record) -> dict[str, Any]:
    """One statutory flag of a referral, as staff read it."""
    made_at, recorded_at = row["made_at"], row["recorded_at"]
    return {
        "flag": row["flag"],
        "status": status_of(made_at, row["withdrawn_at"]),
        "raised_at": row["raised_at"].isoformat(),
        "policy_version": row["policy_version"],
        "withdrawn_at": row["withdrawn_at"].isoformat() if row["withdrawn_at"] else None,
        "made_at": made_at.isoformat() if made_at else None,
        "reference": row["reference"],
        "recorded_by": row["recorded_by"],
        "recorded_at": recorded_at.isoformat() if recorded_at else None,
    }


async def record_made(
    pool: asyncpg.Pool,
    referral_id: uuid.UUID,
    *,
    flag: str,
    made_at: datetime,
    reference: str,
    supervisor: str,
) -> dict[str, Any]:
    """``NotFound`` for an unknown referral; ``Refused`` when the referral never had the
    flag, or the referral was already recorded as made."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await locked_referral(conn, referral_id)
        row = await sql.lock(conn, referral_id, flag)
        if row is None:
            raise Refused(
                f"No decision on this referral raised {flag}; there is nothing to record."
            )
        if row["made_at"] is not None:
            raise Refused(
                f"The {flag} referral was already recorded as made on "
                f"{row['made_at'].isoformat()} by {row['recorded_by']}."
            )
        row = await sql.record_made(
            conn,
            referral_id,
            flag,
            made_at=made_at,
            reference=reference,
            recorded_by=supervisor,
            recorded_at=now,
        )
        await timeline_store.add(
            conn,
            referral_id,
            TIMELINE_EVENT,
            now,
            actor=supervisor,
            detail={"flag": flag, "made_at": made_at.isoformat(), "reference": reference},
        )
    return {"referral_id": str(referral_id), **view(row)}
