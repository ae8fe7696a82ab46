"""The personal-data vault: contact details, date of birth and the other personal fields of
each referral, encrypted at rest with AES-256-GCM.

Each entry records the id of the key that sealed it, so keys can rotate: new entries use
the current key, old ones stay readable with the keys they name, and ``rotate`` re-seals
them under the current key. The referral id is bound in as associated data, so a sealed
entry copied onto another referral does not open.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.plumbing.db import Connection

NONCE_BYTES = 12


class VaultKeyMissing(Exception):
    pass


class Vault:
    def __init__(self, keys: dict[str, str], current: str) -> None:
        decoded = {key_id: base64.b64decode(value) for key_id, value in keys.items()}
        for key_id, key in decoded.items():
            if len(key) != 32:
                raise ValueError(f"vault key {key_id!r} is not 32 bytes (AES-256)")
        if current not in decoded:
            raise ValueError(f"the current vault key {current!r} is not among the vault keys")
        self._keys = {key_id: AESGCM(key) for key_id, key in decoded.items()}
        self.current = current

    def seal(self, referral_id: uuid.UUID, personal: dict[str, Any]) -> tuple[str, bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(personal, separators=(",", ":")).encode()
        return (
            self.current,
            nonce,
            self._keys[self.current].encrypt(nonce, plaintext, referral_id.bytes),
        )

    def open(
        self, referral_id: uuid.UUID, key_id: str, nonce: bytes, ciphertext: bytes
    ) -> dict[str, Any]:
        key = self._keys.get(key_id)
        if key is None:
            raise VaultKeyMissing(
                f"no vault key {key_id!r}: it was retired before its entries were re-sealed"
            )
        opened: dict[str, Any] = json.loads(key.decrypt(nonce, ciphertext, referral_id.bytes))
        return opened

    async def write(
        self, conn: Connection, referral_id: uuid.UUID, personal: dict[str, Any]
    ) -> None:
        key_id, nonce, ciphertext = self.seal(referral_id, personal)
        await conn.execute(
            """INSERT INTO vault (referral_id, key_id, nonce, ciphertext) VALUES ($1, $2, $3, $4)
               ON CONFLICT (referral_id) DO UPDATE
               SET key_id = $2, nonce = $3, ciphertext = $4, personal = NULL""",
            referral_id,
            key_id,
            nonce,
            ciphertext,
        )

    async def read(self, conn: Connection, referral_id: uuid.UUID) -> dict[str, Any] | None:
        row = await conn.fetchrow(
            "SELECT key_id, nonce, ciphertext FROM vault WHERE referral_id = $1", referral_id
        )
        if row is None:
            return None
        return self.open(referral_id, row["key_id"], row["nonce"], row["ciphertext"])

    async def erase(self, conn: Connection, referral_id: uuid.UUID) -> bool:
        """The referral's personal data and every note sealed beside it."""
        await conn.execute("DELETE FROM vault_notes WHERE referral_id = $1", referral_id)
        return bool(
            await conn.fetchval(
                "DELETE FROM vault WHERE referral_id = $1 RETURNING true", referral_id
            )
        )

    # ---- notes: free text about a referral, sealed like its contact details -------------
    def _note_aad(self, referral_id: uuid.UUID, kind: str) -> bytes:
        return referral_id.bytes + kind.encode()

    async def add_note(
        self,
        conn: Connection,
        referral_id: uuid.UUID,
        kind: str,
        text: str,
        *,
        author: str,
        route_id: uuid.UUID | None = None,
    ) -> int:
        """Seal ``text`` (an override's justification, a provider's rejection note ...) for
        ``referral_id``; returns the note's id, which is all other tables keep."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current].encrypt(
            nonce, text.encode(), self._note_aad(referral_id, kind)
        )
        note_id: int = await conn.fetchval(
            """INSERT INTO vault_notes (referral_id, kind, route_id, author, key_id, nonce,
                                        ciphertext)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
            referral_id,
            kind,
            route_id,
            author,
            self.current,
            nonce,
            sealed,
        )
        return note_id

    async def notes(self, conn: Connection, referral_id: uuid.UUID) -> list[dict[str, Any]]:
        """The referral's notes, opened, oldest first (none once it was erased)."""
        rows = await conn.fetch(
            """SELECT id, kind, route_id, author, at, key_id, nonce, ciphertext
               FROM vault_notes WHERE referral_id = $1 ORDER BY id""",
            referral_id,
        )
        return [
            {
                "note_id": row["id"],
                "kind": row["kind"],
                "route_id": str(row["route_id"]) if row["route_id"] else None,
                "by": row["author"],
                "at": row["at"].isoformat(),
                "text": self._open_note(referral_id, row),
            }
            for row in rows
        ]

    def _open_note(self, referral_id: uuid.UUID, row: Any) -> str:
        key = self._keys.get(row["key_id"])
        if key is None:
            raise VaultKeyMissing(f"no vault key {row['key_id']!r} for a sealed note")
        return key.decrypt(
            row["nonce"], row["ciphertext"], self._note_aad(referral_id, row["kind"])
        ).decode()

    async def seal_legacy_entries(self, conn: Connection) -> int:
        """Entries written in the clear before the vault was encrypted: seal them now."""
        rows = await conn.fetch("SELECT referral_id, personal FROM vault WHERE ciphertext IS NULL")
        for row in rows:
            await self.write(conn, row["referral_id"], row["personal"])
        return len(rows)

    async def rotate(self, conn: Connection, batch: int = 500) -> int:
        """Re-seal entries and notes under older keys with the current key; returns how
        many."""
        notes = await conn.fetch(
            """SELECT id, referral_id, kind, key_id, nonce, ciphertext FROM vault_notes
               WHERE key_id <> $1 LIMIT $2""",
            self.current,
            batch,
        )
        for note in notes:
            text = self._open_note(note["referral_id"], note)
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._keys[self.current].encrypt(
                nonce, text.encode(), self._note_aad(note["referral_id"], note["kind"])
            )
            await conn.execute(
                "UPDATE vault_notes SET key_id = $2, nonce = $3, ciphertext = $4 WHERE id = $1",
                note["id"],
                self.current,
                nonce,
                sealed,
            )
        rows = await conn.fetch(
            "SELECT referral_id, key_id, nonce, ciphertext FROM vault WHERE key_id <> $1 LIMIT $2",
            self.current,
            batch,
        )
        for row in rows:
            personal = self.open(row["referral_id"], row["key_id"], row["nonce"], row["ciphertext"])
            await self.write(conn, row["referral_id"], personal)
        return len(rows) + len(notes)
