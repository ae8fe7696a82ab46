"""Free text about a referral, sealed in the vault (issue 25, "erasure that erases"):
an override's justification, who recorded consent, a provider's rejection note or an
outcome's reason that is not a code. Only the note's id is kept elsewhere; erasure takes
the notes with the contact details, and the referral's view shows them while they exist."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

import asyncpg

from schemas.codes import Service
from schemas.refusals import Refused
from services.plumbing.db import Connection
from services.referral_intake.adapters import repository as repo
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain.identity import keyed_idempotency_key, keyed_request_hash
from services.referral_intake.handlers.common import NotFound

log = logging.getLogger(__name__)

ProviderNoteKind = Literal["rejection_note", "outcome_reason"]
OVERRIDE_JUSTIFICATION = "override_justification"
CONSENT_RECORDED_BY = "consent_recorded_by"


class Erased(Refused):
    """The referral's personal data was erased: no note is kept for it any more."""

    status = 410
    title = "Gone"
    says = "This referral's personal data has been erased."


async def add_provider_note(
    pool: asyncpg.Pool,
    vault: Vault,
    referral_id: uuid.UUID,
    *,
    service: Service,
    kind: ProviderNoteKind,
    text: str,
    author: str,
) -> int:
    """A provider's free text about a referral routed to it (``NotFound`` otherwise, as
    for a referral that does not exist; ``Erased`` once its personal data is gone)."""
    async with pool.acquire() as conn, conn.transaction():
        routes = await repo.routes_to_service(conn, referral_id, service.value)
        if not routes:
            raise NotFound
        referral = await repo.lock_referral(conn, referral_id)
        assert referral is not None
        if referral["erased_at"] is not None:
            raise Erased
        latest = routes[0]  # newest first
        return await vault.add_note(
            conn, referral_id, kind, text, author=author, route_id=latest["route_id"]
        )


async def seal_clear_text(conn: Connection, vault: Vault, identity_key: bytes) -> dict[str, int]:
    """Seal what earlier versions kept in the clear (or drop it, for a referral already
    erased), and key their idempotency records. Runs at start; finds nothing the second
    time. Returns how many of each it changed."""
    done = {
        "justifications": await _seal_justifications(conn, vault),
        "recorded_by": await _seal_consent_recorders(conn, vault),
        "idempotency": await _key_referrals_idempotency(conn, identity_key)
        + await _key_submissions_idempotency(conn, identity_key),
    }
    if any(done.values()):
        log.info("clear text sealed in the vault", extra=done)
    return done


async def _seal_justifications(conn: Connection, vault: Vault) -> int:
    """Overrides' justifications into the vault; the timeline names the note instead."""
    changed = 0
    for row in await conn.fetch(
        """SELECT o.request_id, o.referral_id, o.justification, o.supervisor, o.at,
                  r.erased_at
           FROM overrides o JOIN referrals r USING (referral_id)
           WHERE o.justification IS NOT NULL"""
    ):
        note = None
        if row["erased_at"] is None:
            note = await vault.add_note(
                conn,
                row["referral_id"],
                OVERRIDE_JUSTIFICATION,
                row["justification"],
                author=row["supervisor"],
            )
        await conn.execute(
            """UPDATE overrides SET justification = NULL, justification_note = $2
               WHERE request_id = $1""",
            row["request_id"],
            note,
        )
        await conn.execute(
            """UPDATE timeline SET detail = (detail - 'justification')
                   || CASE WHEN $3::bigint IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('note_id', $3::bigint) END
               WHERE referral_id = $1 AND detail->>'justification' = $2""",
            row["referral_id"],
            row["justification"],
            note,
        )
        changed += 1
    return changed


async def _seal_consent_recorders(conn: Connection, vault: Vault) -> int:
    """Who recorded each consent, into the vault."""
    changed = 0
    for row in await conn.fetch(
        """SELECT c.id, c.referral_id, c.recorded_by, c.actor, r.erased_at
           FROM consents c JOIN referrals r USING (referral_id)
           WHERE c.recorded_by IS NOT NULL"""
    ):
        note = None
        if row["erased_at"] is None:
            note = await vault.add_note(
                conn,
                row["referral_id"],
                CONSENT_RECORDED_BY,
                row["recorded_by"],
                author=row["actor"],
            )
        await conn.execute(
            "UPDATE consents SET recorded_by = NULL, recorded_by_note = $2 WHERE id = $1",
            row["id"],
            note,
        )
        changed += 1
    return changed


async def _key_referrals_idempotency(conn: Connection, identity_key: bytes) -> int:
    """Referrals' idempotency records keyed (or cleared once erased)."""
    changed = 0
    for row in await conn.fetch(
        """SELECT referral_id, idempotency_key, request_hash, erased_at FROM referrals
           WHERE idempotency_key IS NOT NULL OR request_hash IS NOT NULL"""
    ):
        keep = row["erased_at"] is None and row["idempotency_key"] is not None
        await conn.execute(
            """UPDATE referrals SET idempotency_key = NULL, request_hash = NULL,
                   idempotency_hmac = $2, request_hmac = $3
               WHERE referral_id = $1""",
            row["referral_id"],
            keyed_idempotency_key(identity_key, row["idempotency_key"]) if keep else None,
            keyed_request_hash(identity_key, row["request_hash"] or "") if keep else None,
        )
        changed += 1
    return changed


async def _key_submissions_idempotency(conn: Connection, identity_key: bytes) -> int:
    """Each submission's idempotency record, keyed or cleared the same way."""
    # Every submission keeps its own idempotency record since resubmissions (migration 060
    # copied each referral's first one there): keyed, or cleared once erased, the same way.
    changed = 0
    for row in await conn.fetch(
        """SELECT s.referral_id, s.version, s.idempotency_key, s.request_hash, r.erased_at
           FROM submissions s JOIN referrals r USING (referral_id)
           WHERE s.idempotency_key IS NOT NULL OR s.request_hash IS NOT NULL"""
    ):
        keep = row["erased_at"] is None and row["idempotency_key"] is not None
        await conn.execute(
            """UPDATE submissions SET idempotency_key = NULL, request_hash = NULL,
                   idempotency_hmac = $3, request_hmac = $4
               WHERE referral_id = $1 AND version = $2""",
            row["referral_id"],
            row["version"],
            keyed_idempotency_key(identity_key, row["idempotency_key"]) if keep else None,
            keyed_request_hash(identity_key, row["request_hash"] or "") if keep else None,
        )
        changed += 1
    return changed


def with_notes(entry: dict[str, Any], notes: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A timeline entry with its sealed note's text in place of its id (``null`` once
    erased)."""
    note_id = entry.pop("note_id", None)
    if note_id is None:
        return entry
    note = notes.get(int(note_id))
    entry["justification"] = note["text"] if note else None
    return entry
