"""What earlier versions stored in the clear, found and cleared once it is sealed or keyed
(issue 25): overrides' justifications and who recorded each consent (now sealed notes in
the vault), and idempotency records (now keyed HMACs, ``domain.identity``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from services.plumbing.db import Connection
from services.referral_intake.adapters.typed_rows import fetch_all


@dataclass(frozen=True)
class ClearNote:
    """Free text kept in the clear: an override's ``justification`` (``held_in`` overrides,
    ``row`` its request id) or who ``recorded_by`` a consent (consents, ``row`` its id)."""

    held_in: Literal["overrides", "consents"]
    row: str
    referral_id: uuid.UUID
    text: str
    author: str
    erased: bool


@dataclass(frozen=True)
class ClearIdempotency:
    """An idempotency record kept unkeyed: the referral's own (``version`` None) or one
    submission's."""

    referral_id: uuid.UUID
    version: int | None
    idempotency_key: str | None
    request_hash: str | None
    erased: bool


async def notes(conn: Connection) -> list[ClearNote]:
    """Every clear-text note, the overrides' first."""
    return await fetch_all(
        conn,
        ClearNote,
        """SELECT 'overrides' AS held_in, o.request_id::text AS row, o.referral_id,
                  o.justification AS text, o.supervisor AS author,
                  r.erased_at IS NOT NULL AS erased, 1 AS part
           FROM overrides o JOIN referrals r USING (referral_id)
           WHERE o.justification IS NOT NULL
           UNION ALL
           SELECT 'consents', c.id::text, c.referral_id, c.recorded_by, c.actor,
                  r.erased_at IS NOT NULL, 2
           FROM consents c JOIN referrals r USING (referral_id)
           WHERE c.recorded_by IS NOT NULL
           ORDER BY part""",
    )


async def seal_note(conn: Connection, note: ClearNote, note_id: int | None) -> None:
    """Put the vault's ``note_id`` (None: the referral was erased, nothing kept) in place of
    ``note``'s text; an override's timeline entries name the note instead of the text."""
    if note.held_in == "consents":
        await conn.execute(
            "UPDATE consents SET recorded_by = NULL, recorded_by_note = $2 WHERE id = $1",
            int(note.row),
            note_id,
        )
        return
    await conn.execute(
        """UPDATE overrides SET justification = NULL, justification_note = $2
           WHERE request_id = $1""",
        uuid.UUID(note.row),
        note_id,
    )
    await conn.execute(
        """UPDATE timeline SET detail = (detail - 'justification')
               || CASE WHEN $3::bigint IS NULL THEN '{}'::jsonb
                       ELSE jsonb_build_object('note_id', $3::bigint) END
           WHERE referral_id = $1 AND detail->>'justification' = $2""",
        note.referral_id,
        note.text,
        note_id,
    )


async def idempotency_records(conn: Connection) -> list[ClearIdempotency]:
    """Every unkeyed idempotency record, the referrals' first, then the submissions'."""
    return await fetch_all(
        conn,
        ClearIdempotency,
        """SELECT referral_id, NULL::integer AS version, idempotency_key, request_hash,
                  erased_at IS NOT NULL AS erased, 1 AS part
           FROM referrals
           WHERE idempotency_key IS NOT NULL OR request_hash IS NOT NULL
           UNION ALL
           SELECT s.referral_id, s.version, s.idempotency_key, s.request_hash,
                  r.erased_at IS NOT NULL, 2
           FROM submissions s JOIN referrals r USING (referral_id)
           WHERE s.idempotency_key IS NOT NULL OR s.request_hash IS NOT NULL
           ORDER BY part""",
    )


async def key_idempotency(
    conn: Connection,
    record: ClearIdempotency,
    idempotency_hmac: str | None,
    request_hmac: str | None,
) -> None:
    """Replace ``record`` with its keyed form (both None: cleared)."""
    if record.version is None:
        await conn.execute(
            """UPDATE referrals SET idempotency_key = NULL, request_hash = NULL,
                   idempotency_hmac = $2, request_hmac = $3
               WHERE referral_id = $1""",
            record.referral_id,
            idempotency_hmac,
            request_hmac,
        )
        return
    await conn.execute(
        """UPDATE submissions SET idempotency_key = NULL, request_hash = NULL,
               idempotency_hmac = $3, request_hmac = $4
           WHERE referral_id = $1 AND version = $2""",
        record.referral_id,
        record.version,
        idempotency_hmac,
        request_hmac,
    )
