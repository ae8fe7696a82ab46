"""Recording consent given, refused or withdrawn, and asking the router to decide again.

Withdrawal or refusal stops disclosure at once (see ``disclosure``); the router then
cancels the routes that needed consent and tells their providers. Routes the policy sends
without consent (a high-risk MARAC referral, a child's exploitation screen) stay.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas.refusals import Refused
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain import consent
from services.referral_intake.domain.consent import ConsentChange
from services.referral_intake.handlers.common import locked_referral, reassessment
from services.referral_intake.handlers.notes import CONSENT_RECORDED_BY


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
        referral = await locked_referral(conn, referral_id)
        refused = consent.refusal(
            status, on_record=referral.consent_status, routed=referral.decision is not None
        )
        if refused is not None:
            raise Refused(refused)
        facts = await record_change(
            conn,
            referral_id,
            dict(referral.facts),
            vault,
            status=status,
            recorded_at=recorded_at or now,
            recorded_by=recorded_by if referral.erased_at is None else None,
            actor=actor,
            at=now,
        )
        await outbox.add(
            conn, [await reassessment(conn, referral_id, facts, consent.trigger(status))]
        )
    return {"referral_id": str(referral_id), "consent": status}


async def record_change(
    conn: Connection,
    referral_id: uuid.UUID,
    facts: dict[str, Any],
    vault: Vault,
    *,
    status: ConsentChange,
    recorded_at: datetime,
    recorded_by: str | None,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record a consent change on a locked referral (its consent history, its consent
    status, which stops disclosure at once on a refusal or withdrawal, and its timeline);
    the facts with the new consent. Used by ``POST /consent`` and by a resubmission whose
    consent differs from the record: one way to record consent. Who recorded it
    (``recorded_by``) is free text that may name anyone: it is sealed in the vault, and
    erased with the referral's personal data."""
    facts = dict(facts)
    facts["consent"] = consent.consent_fact(status).value
    await referral_store.set_consent(conn, referral_id, facts, status, at)
    note = None
    if recorded_by is not None:
        note = await vault.add_note(
            conn, referral_id, CONSENT_RECORDED_BY, recorded_by, author=actor
        )
    await referral_store.add_consent(
        conn,
        referral_id,
        status=status,
        recorded_at=recorded_at,
        recorded_by_note=note,
        actor=actor,
    )
    await timeline_store.add(
        conn, referral_id, consent.trigger(status).value, at, actor=actor, detail=detail
    )
    return facts
