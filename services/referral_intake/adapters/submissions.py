"""Every submission of a referral as it was given (table ``submissions``, migration 060),
found again by its keyed Idempotency-Key, and the re-assessment a resubmission waits to send
(``referrals.awaiting_decision``, ``pending_reassessment``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.codes import ReferralStatus
from services.plumbing.db import Connection
from services.referral_intake.adapters import referrals
from services.referral_intake.adapters.typed_rows import fetch_all, fetch_one


@dataclass(frozen=True)
class Submission:
    """One submission: its ``version`` (1: the first), its coded facts, the facts it raised
    and those the record kept (field names), the consent change it made, and the decision
    that answered it (None when it asked for no re-assessment)."""

    version: int
    submitted_at: datetime
    submitted_by: str
    facts: dict[str, Any]
    raised: tuple[str, ...]
    kept_from_record: tuple[str, ...]
    consent_change: str | None
    decision_id: uuid.UUID | None


@dataclass(frozen=True)
class KeyedSubmission:
    """The submission an Idempotency-Key came with, and its referral's status now."""

    referral_id: uuid.UUID
    request_hmac: str | None
    version: int
    raised: tuple[str, ...]
    kept_from_record: tuple[str, ...]
    consent_change: str | None
    decision_id: uuid.UUID | None
    status: ReferralStatus


@dataclass(frozen=True)
class ReferralToResubmit:
    """The referral a resubmission joins (locked), with the state of its re-assessment:
    the decision it ``awaiting_decision`` for, the one ``pending_reassessment`` to send,
    and the highest submission version so far (``versions``)."""

    referral_id: uuid.UUID
    status: ReferralStatus
    facts: dict[str, Any]
    decision: dict[str, Any] | None
    consent_status: str | None
    erased_at: datetime | None
    awaiting_decision: uuid.UUID | None
    pending_reassessment: uuid.UUID | None
    last_submitted_at: datetime
    versions: int | None


@dataclass(frozen=True)
class ReassessmentState:
    awaiting_decision: uuid.UUID | None
    pending_reassessment: uuid.UUID | None
    facts: dict[str, Any]


async def find_by_idempotency_key(conn: Connection, keyed: str) -> KeyedSubmission | None:
    """The submission (first or later) an Idempotency-Key came with; ``keyed`` is the
    key's HMAC (``domain.identity.keyed_idempotency_key``), never the key."""
    return await fetch_one(
        conn,
        KeyedSubmission,
        """SELECT s.referral_id, s.request_hmac, s.version, s.raised, s.kept_from_record,
                  s.consent_change, s.decision_id, r.status
           FROM submissions s JOIN referrals r USING (referral_id)
           WHERE s.idempotency_hmac = $1""",
        keyed,
    )


async def add_submission(
    conn: Connection,
    referral_id: uuid.UUID,
    version: int,
    *,
    at: datetime,
    by: str,
    facts: dict[str, Any],
    raised: list[str],
    kept_from_record: list[str],
    consent_change: str | None,
    decision_id: uuid.UUID | None,
    idempotency_hmac: str | None,
    request_hmac: str | None,
) -> None:
    """``idempotency_hmac`` and ``request_hmac``: the keyed idempotency record
    (``domain.identity``), never the key or an unkeyed hash of the body."""
    await conn.execute(
        """INSERT INTO submissions (referral_id, version, submitted_at, submitted_by, facts,
                                    raised, kept_from_record, consent_change, decision_id,
                                    idempotency_hmac, request_hmac)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        referral_id,
        version,
        at,
        by,
        facts,
        raised,
        kept_from_record,
        consent_change,
        decision_id,
        idempotency_hmac,
        request_hmac,
    )


async def submissions_of(conn: Connection, referral_id: uuid.UUID) -> list[Submission]:
    """The referral's submissions, first first."""
    return await fetch_all(
        conn,
        Submission,
        """SELECT version, submitted_at, submitted_by, facts, raised, kept_from_record,
                  consent_change, decision_id
           FROM submissions WHERE referral_id = $1 ORDER BY version""",
        referral_id,
    )


async def submission_versions_deciding(
    conn: Connection, referral_id: uuid.UUID, decision_id: uuid.UUID
) -> list[int]:
    rows = await conn.fetch(
        """SELECT version FROM submissions WHERE referral_id = $1 AND decision_id = $2
           ORDER BY version""",
        referral_id,
        decision_id,
    )
    return [r["version"] for r in rows]


async def lock_for_resubmission(
    conn: Connection, referral_id: uuid.UUID
) -> ReferralToResubmit | None:
    return await fetch_one(
        conn,
        ReferralToResubmit,
        """SELECT r.referral_id, r.status, r.facts, r.decision, r.consent_status, r.erased_at,
                  r.awaiting_decision, r.pending_reassessment, r.last_submitted_at,
                  (SELECT max(version) FROM submissions s
                   WHERE s.referral_id = r.referral_id) AS versions
           FROM referrals r WHERE r.referral_id = $1 FOR UPDATE""",
        referral_id,
    )


async def set_resubmitted(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    facts: dict[str, Any],
    at: datetime,
    awaiting_decision: uuid.UUID | None,
    pending_reassessment: uuid.UUID | None,
) -> None:
    """The referral's facts as resubmitted at ``at``, with the state of its re-assessment
    (as ``set_reassessment_state``), in one statement."""
    waiting = _waiting(awaiting_decision, pending_reassessment)
    await referrals.update(
        conn, referral_id, facts=facts, last_submitted_at=at, updated_at=at, **waiting
    )


async def set_reassessment_state(
    conn: Connection,
    referral_id: uuid.UUID,
    awaiting_decision: uuid.UUID | None,
    pending_reassessment: uuid.UUID | None,
) -> None:
    """The decision a resubmission's re-assessment waits for, and the re-assessment that
    waits (its decision id), either None."""
    await referrals.update(conn, referral_id, **_waiting(awaiting_decision, pending_reassessment))


def _waiting(
    awaiting_decision: uuid.UUID | None, pending_reassessment: uuid.UUID | None
) -> dict[str, uuid.UUID | None]:
    return {"awaiting_decision": awaiting_decision, "pending_reassessment": pending_reassessment}


async def reassessment_state(conn: Connection, referral_id: uuid.UUID) -> ReassessmentState | None:
    return await fetch_one(
        conn,
        ReassessmentState,
        """SELECT awaiting_decision, pending_reassessment, facts FROM referrals
           WHERE referral_id = $1""",
        referral_id,
    )
