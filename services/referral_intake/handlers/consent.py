"""Recording consent given, refused or withdrawn, and asking the router to decide again.

Withdrawal or refusal stops disclosure at once (see ``disclosure``); the router then
cancels the routes that needed consent and tells their providers. Routes the policy sends
without consent (a high-risk MARAC referral, a child's exploitation screen) stay.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import asyncpg

from schemas.codes import ConsentStatus
from services.plumbing import outbox
from services.referral_intake.adapters import repository as repo
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.handlers.common import Conflict, NotFound, reassessment
from services.referral_intake.handlers.notes import CONSENT_RECORDED_BY

ConsentChange = Literal["given", "refused", "withdrawn"]


async def record_consent(
    pool: asyncpg.Pool,
    vault: Vault,
    referral_id: uuid.UUID,
    *,
    status: ConsentChange,
    recorded_at: datetime | None,
    recorded_by: str | None,
    actor: str,
) -> dict[str, str]:
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        referral = await repo.lock_referral(conn, referral_id)
        if referral is None:
            raise NotFound
        if referral["decision"] is None:
            raise Conflict(
                "The referral is still being routed; record the consent again in a moment."
            )
        if status == "withdrawn" and referral["consent_status"] not in ("given", "not_asked"):
            raise Conflict("Consent can only be withdrawn after it was given (or not yet asked).")
        if status == referral["consent_status"]:
            raise Conflict(f"Consent is already recorded as {status}.")
        facts = dict(referral["facts"])
        facts["consent"] = (
            ConsentStatus.GIVEN if status == "given" else ConsentStatus.REFUSED
        ).value
        await repo.set_consent(conn, referral_id, facts, status, now)
        # Who recorded it is free text (it may name anyone): sealed in the vault.
        note = None
        if recorded_by is not None and referral["erased_at"] is None:
            note = await vault.add_note(
                conn, referral_id, CONSENT_RECORDED_BY, recorded_by, author=actor
            )
        await repo.add_consent(
            conn,
            referral_id,
            status=status,
            recorded_at=recorded_at or now,
            recorded_by_note=note,
            actor=actor,
        )
        await repo.add_timeline(conn, referral_id, f"consent_{status}", now, actor=actor)
        await outbox.add(conn, [await reassessment(conn, referral_id, facts, f"consent_{status}")])
    return {"referral_id": str(referral_id), "consent": status}
