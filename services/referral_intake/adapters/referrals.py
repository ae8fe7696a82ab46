"""The referrals themselves (table ``referrals``): a new referral with everything that comes
with it, its status, decision, consent and contact version, and the worklist of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.codes import TERMINAL_ROUTE_STATUSES, LocalAuthority, ReferralStatus
from schemas.events import ReferralFacts
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.plumbing.outbox import OutgoingEvent
from services.referral_intake.adapters.typed_rows import fetch_all, fetch_one

_ENDED_ROUTES = sorted(status.value for status in TERMINAL_ROUTE_STATUSES)
"""Route statuses after which a missed clock no longer needs a supervisor (the worklist)."""


@dataclass(frozen=True)
class Referral:
    """One referral as intake holds it, without personal data (that is in the vault):
    coded ``facts`` (``ReferralFacts`` as JSON), the stored ``decision`` (None before the
    router's first), and ``erased_at`` once its personal data was erased."""

    referral_id: uuid.UUID
    received_at: datetime
    status: ReferralStatus
    facts: dict[str, Any]
    decision: dict[str, Any] | None
    consent_status: str | None
    repeat_victim: bool
    erased_at: datetime | None


@dataclass(frozen=True)
class WorklistReferral:
    """One referral on the worklist: no facts, only what the list shows."""

    referral_id: uuid.UUID
    status: ReferralStatus
    received_at: datetime
    local_authority: LocalAuthority
    decision: dict[str, Any] | None
    repeat_victim: bool


_READ_REFERRAL = """SELECT referral_id, received_at, status, facts, decision, consent_status,
                         repeat_victim, erased_at FROM referrals
                  WHERE referral_id = $1"""
_LOCK_REFERRAL = f"{_READ_REFERRAL} FOR UPDATE"


UPDATABLE = frozenset(
    {
        "facts",
        "decision",
        "consent_status",
        "contact_version",
        "updated_at",
        "last_submitted_at",
        "awaiting_decision",
        "pending_reassessment",
        "person_key",
        "person_phone_key",
        "born_key",
        "crime_key",
        "identity_version",
    }
)
"""The columns ``update`` sets; the others change only with what they go with (``status``
with ``closed_at``, erasure with its record)."""


async def update(conn: Connection, referral_id: uuid.UUID, **columns: object) -> None:
    """Set ``columns`` (column name to value, names from ``UPDATABLE``) of one referral;
    ``ValueError`` for any other name."""
    if unknown := columns.keys() - UPDATABLE:
        raise ValueError(f"not updatable here: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(columns, start=2))
    await conn.execute(
        f"UPDATE referrals SET {assignments} WHERE referral_id = $1",  # noqa: S608 - known names
        referral_id,
        *columns.values(),
    )


async def get(conn: Connection, referral_id: uuid.UUID, *, lock: bool = False) -> Referral | None:
    """The referral, or None; ``lock`` takes its row ``FOR UPDATE`` (every change to a
    referral takes it first, so changes to one referral happen one after another)."""
    return await fetch_one(conn, Referral, _LOCK_REFERRAL if lock else _READ_REFERRAL, referral_id)


async def exists(conn: Connection, referral_id: uuid.UUID) -> bool:
    """Whether intake holds the referral (its row is then locked)."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM referrals WHERE referral_id = $1 FOR UPDATE", referral_id
        )
    )


_INSERT_NEW_REFERRAL = """WITH referral AS (
       INSERT INTO referrals (referral_id, received_at, status, source, local_authority,
                              facts, submitted_by, idempotency_hmac, request_hmac,
                              updated_at, consent_status, person_key, crime_key,
                              repeat_victim, person_phone_key, born_key,
                              identity_version, last_submitted_at)
       VALUES ($1, $2, 'received', $3, $4, $5, $6, $7, $8, $2, $9, $10, $11, $12,
               $22, $23, $24, $2)
   ), first_submission AS (
       INSERT INTO submissions (referral_id, version, submitted_at, submitted_by, facts,
                                idempotency_hmac, request_hmac)
       VALUES ($1, 1, $2, $6, $5, $7, $8)
   ), vault_entry AS (
       INSERT INTO vault (referral_id, key_id, nonce, ciphertext)
       VALUES ($1, $13, $14, $15)
   ), received AS (
       INSERT INTO timeline (referral_id, event, at, detail, actor)
       VALUES ($1, 'received', $2, $16, $6)
   ), equality AS (
       INSERT INTO equality_counts AS e
              (month, local_authority, source, characteristic, category, referrals)
       SELECT date_trunc('month', $2 AT TIME ZONE 'Europe/London')::date, $4, $3,
              a.characteristic, a.category, 1
       FROM unnest($25::text[], $26::text[]) AS a (characteristic, category)
       ORDER BY a.characteristic
       ON CONFLICT (month, local_authority, source, characteristic, category)
       DO UPDATE SET referrals = e.referrals + 1
   )
   INSERT INTO outbox (event_id, topic, key, payload, headers)
   VALUES ($17, $18, $19, $20, $21)"""
"""The referral, its first submission, its vault entry, its timeline entry, its equality
counts and its event, in one statement: see ``insert_new``."""


async def insert_new(
    conn: Connection,
    facts: ReferralFacts,
    *,
    submitted_by: str,
    idempotency_hmac: str | None,
    request_hmac: str | None,
    person_key: str | None,
    person_phone_key: str | None,
    born_key: str | None,
    identity_version: int,
    crime_key: str | None,
    repeat_victim: bool,
    sealed: tuple[str, bytes, bytes],
    timeline_detail: dict[str, Any] | None,
    event: OutgoingEvent,
    equality: dict[str, str],
) -> None:
    """A new referral with everything that goes with it, in one statement (so one
    transaction and one round trip): the referral, its first submission, its vault entry
    (``sealed`` is the vault's key id, nonce and ciphertext), its ``received`` timeline
    entry, its ``referral.received.v1`` event in the outbox (whose trigger wakes the relay at
    commit), and its equality answers (characteristic -> code) added to the monthly counters
    (migration 020: no referral id; the answers themselves are only in the sealed entry).
    The counters are taken in one order, so concurrent submissions never deadlock.
    Four separate statements in a transaction cost six round trips, a third of a
    submission's CPU. Raises ``outbox.EventTooLarge`` (nothing written) for an event over
    the outbox's limit, as ``outbox.add`` does."""
    outbox.check_size(event)
    key_id, nonce, ciphertext = sealed
    await conn.execute(
        _INSERT_NEW_REFERRAL,
        facts.referral_id,
        facts.received_at,
        facts.source.value,
        facts.local_authority.value,
        facts.model_dump(mode="json"),
        submitted_by,
        idempotency_hmac,
        request_hmac,
        facts.consent.value,
        person_key,
        crime_key,
        repeat_victim,
        key_id,
        nonce,
        ciphertext,
        timeline_detail or {},
        event.event_id,
        event.topic,
        str(event.key),
        event.envelope,
        event.headers,
        person_phone_key,
        born_key,
        identity_version,
        list(equality),
        list(equality.values()),
    )


async def store_decision(
    conn: Connection, referral_id: uuid.UUID, decision: dict[str, Any], at: datetime
) -> None:
    await update(conn, referral_id, decision=decision, updated_at=at)


async def decision(conn: Connection, referral_id: uuid.UUID) -> dict[str, Any] | None:
    """The referral's stored decision (``domain.timeline.stored_decision``), or None."""
    stored: dict[str, Any] | None = await conn.fetchval(
        "SELECT decision FROM referrals WHERE referral_id = $1", referral_id
    )
    return stored


async def set_status(conn: Connection, referral_id: uuid.UUID, status: str, at: datetime) -> None:
    """Also keeps ``closed_at``: when the referral last became closed or no_service (the
    retention clock runs from then)."""
    await conn.execute(
        """UPDATE referrals SET status = $2, updated_at = greatest(updated_at, $3),
               closed_at = CASE WHEN $2 IN ('closed', 'no_service')
                                THEN coalesce(closed_at, $3) ELSE NULL END
           WHERE referral_id = $1""",
        referral_id,
        status,
        at,
    )


async def set_consent(
    conn: Connection,
    referral_id: uuid.UUID,
    facts: dict[str, Any],
    consent_status: str,
    at: datetime,
) -> None:
    await update(conn, referral_id, facts=facts, consent_status=consent_status, updated_at=at)


async def add_consent(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    status: str,
    recorded_at: datetime,
    recorded_by_note: int | None,
    actor: str,
) -> None:
    """One entry in the referral's consent history (table ``consents``);
    ``recorded_by_note``: the sealed note (vault) naming who recorded it."""
    await conn.execute(
        """INSERT INTO consents (referral_id, status, recorded_at, recorded_by_note, actor)
           VALUES ($1, $2, $3, $4, $5)""",
        referral_id,
        status,
        recorded_at,
        recorded_by_note,
        actor,
    )


async def contact_version(conn: Connection, referral_id: uuid.UUID) -> int:
    """The version of the referral's contact details (1: as submitted)."""
    return int(
        await conn.fetchval(
            "SELECT contact_version FROM referrals WHERE referral_id = $1", referral_id
        )
        or 1
    )


async def set_contact_changed(
    conn: Connection, referral_id: uuid.UUID, facts: dict[str, Any], version: int, at: datetime
) -> None:
    await update(conn, referral_id, facts=facts, contact_version=version, updated_at=at)


async def worklist(
    conn: Connection,
    *,
    status: str | None,
    service: str | None,
    local_authority: str | None,
    breached: bool | None,
    flag: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    action_required: bool | None = None,
) -> list[WorklistReferral]:
    """``action_required``: whether the referral has a statutory flag (``flag``, when given)
    that no supervisor has yet recorded as done (migration 040)."""
    return await fetch_all(
        conn,
        WorklistReferral,
        """SELECT f.referral_id, f.status, f.received_at, f.local_authority, f.decision,
                  f.repeat_victim
           FROM referrals f
           WHERE ($1::text IS NULL OR f.status = $1)
             AND ($2::text IS NULL OR EXISTS (
                   SELECT 1 FROM routes r
                   WHERE r.referral_id = f.referral_id AND r.service = $2))
             AND ($3::text IS NULL OR f.local_authority = $3)
             AND ($4::boolean IS NULL OR $4 = EXISTS (
                   SELECT 1 FROM routes r WHERE r.referral_id = f.referral_id AND r.breached
                     AND NOT r.status = ANY($8::text[])))
             AND ($5::text IS NULL OR f.decision->'flags' ? $5)
             AND ($6::timestamptz IS NULL OR (f.received_at, f.referral_id) > ($6, $7))
             AND ($10::boolean IS NULL OR $10 = EXISTS (
                   SELECT 1 FROM statutory_referrals s
                   WHERE s.referral_id = f.referral_id
                     AND s.made_at IS NULL AND s.withdrawn_at IS NULL
                     AND ($5::text IS NULL OR s.flag = $5)))
           ORDER BY f.received_at, f.referral_id
           LIMIT $9""",
        status,
        service,
        local_authority,
        breached,
        flag,
        after[0] if after else None,
        after[1] if after else None,
        _ENDED_ROUTES,
        limit,
        action_required,
    )
