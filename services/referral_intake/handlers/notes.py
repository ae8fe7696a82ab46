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
from services.plumbing.db import Connection
from services.referral_intake.adapters import clear_text
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain.identity import keyed_idempotency_key, keyed_request_hash
from services.referral_intake.handlers.common import Erased, routed_referral

log = logging.getLogger(__name__)

ProviderNoteKind = Literal["rejection_note", "outcome_reason"]
OVERRIDE_JUSTIFICATION = "override_justification"
CONSENT_RECORDED_BY = "consent_recorded_by"


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
        referral, routes = await routed_referral(conn, referral_id, service)
        if referral.erased_at is not None:
            raise Erased
        latest = routes[0]  # newest first
        return await vault.add_note(
            conn, referral_id, kind, text, author=author, route_id=latest.route_id
        )


async def seal_clear_text(conn: Connection, vault: Vault, identity_key: bytes) -> dict[str, int]:
    """Seal what earlier versions kept in the clear (or drop it, for a referral already
    erased), and key their idempotency records. Runs at start; finds nothing the second
    time. Returns how many of each it changed."""
    done = {"justifications": 0, "recorded_by": 0, "idempotency": 0}
    for note in await clear_text.notes(conn):
        kind = _NOTE_KINDS[note.held_in]
        note_id = (
            None
            if note.erased
            else await vault.add_note(conn, note.referral_id, kind, note.text, author=note.author)
        )
        await clear_text.seal_note(conn, note, note_id)
        done["justifications" if kind == OVERRIDE_JUSTIFICATION else "recorded_by"] += 1
    # Every submission keeps its own idempotency record since resubmissions (migration 060
    # copied each referral's first one there): keyed, or cleared once erased, the same way.
    for record in await clear_text.idempotency_records(conn):
        keep = not record.erased and record.idempotency_key is not None
        await clear_text.key_idempotency(
            conn,
            record,
            keyed_idempotency_key(identity_key, record.idempotency_key or "") if keep else None,
            keyed_request_hash(identity_key, record.request_hash or "") if keep else None,
        )
        done["idempotency"] += 1
    if any(done.values()):
        log.info("clear text sealed in the vault", extra=done)
    return done


_NOTE_KINDS = {"overrides": OVERRIDE_JUSTIFICATION, "consents": CONSENT_RECORDED_BY}
"""The vault's kind of note for what each table kept in the clear."""


def with_notes(entry: dict[str, Any], notes: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A timeline entry with its sealed note's text in place of its id (``null`` once
    erased)."""
    note_id = entry.pop("note_id", None)
    if note_id is None:
        return entry
    note = notes.get(int(note_id))
    entry["justification"] = note["text"] if note else None
    return entry
