"""Free text earlier versions kept in the clear is sealed in the vault at start, or dropped
for a referral already erased; idempotency records are re-keyed (issue 25, findings 3, 4)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from services.plumbing import migrations
from services.referral_intake import bootstrap
from services.referral_intake.domain.identity import keyed_idempotency_key
from services.referral_intake.handlers.notes import seal_clear_text
from tests.support.services import TEST_VAULT

IDENTITY_KEY = b"test-identity-key-0123456789abcdef0123"


@asynccontextmanager
async def _migrated(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to intake's schema, migrated to now (the clear text is sealed by a
    handler the test calls, not by a migration), reading jsonb as Python values."""
    directory = Path(bootstrap.__file__).parent / "migrations"
    await migrations.apply(database_url, "intake", migrations.components(directory))
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        yield conn
    finally:
        await conn.close()


async def _referral(conn: asyncpg.Connection, *, erased: bool, key: str) -> uuid.UUID:
    referral_id = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        """INSERT INTO referrals (referral_id, received_at, status, source, local_authority,
               facts, submitted_by, updated_at, idempotency_key, request_hash, erased_at,
               last_submitted_at)
           VALUES ($1, $2, 'routed', 'val', 'shropshire', '{}'::jsonb, 'someone', $2, $3, $4,
                   $5, $2)""",
        referral_id,
        now,
        key,
        hashlib.sha256(b"body").hexdigest(),
        now if erased else None,
    )
    await conn.execute(
        """INSERT INTO overrides (request_id, referral_id, action, service, justification,
                                  supervisor) VALUES ($1, $2, 'add', 'VAL', $3, 'sup')""",
        uuid.uuid4(),
        referral_id,
        f"Spoke to Jane Legacy {key}",
    )
    await conn.execute(
        """INSERT INTO timeline (referral_id, event, at, detail, actor)
           VALUES ($1, 'override_add_requested', $2, $3, 'sup')""",
        referral_id,
        now,
        {"service": "VAL", "justification": f"Spoke to Jane Legacy {key}"},
    )
    await conn.execute(
        """INSERT INTO consents (referral_id, status, recorded_at, recorded_by, actor)
           VALUES ($1, 'given', $2, $3, 'triage')""",
        referral_id,
        now,
        f"PC Legacy {key}",
    )
    return referral_id


async def test_clear_text_is_sealed_or_dropped_and_idempotency_keys_are_keyed(
    database_url: str,
) -> None:
    async with _migrated(database_url) as conn:
        kept = await _referral(conn, erased=False, key="k1")
        gone = await _referral(conn, erased=True, key="k2")
        done = await seal_clear_text(conn, TEST_VAULT, IDENTITY_KEY)
        assert done == {"justifications": 2, "recorded_by": 2, "idempotency": 2}
        rows = ""
        for table in ("overrides", "consents", "timeline", "referrals"):
            for row in await conn.fetch(f"SELECT * FROM {table}"):  # noqa: S608 - fixed names
                rows += str(dict(row)) + "\n"
        assert "Legacy" not in rows
        notes = {n["kind"]: n["text"] for n in await TEST_VAULT.notes(conn, kept)}
        assert notes == {
            "override_justification": "Spoke to Jane Legacy k1",
            "consent_recorded_by": "PC Legacy k1",
        }
        assert await TEST_VAULT.notes(conn, gone) == []
        keyed = await conn.fetchval(
            "SELECT idempotency_hmac FROM referrals WHERE referral_id = $1", kept
        )
        assert keyed == keyed_idempotency_key(IDENTITY_KEY, "k1")
        assert (
            await conn.fetchval(
                "SELECT idempotency_hmac FROM referrals WHERE referral_id = $1", gone
            )
            is None
        )
        detail = await conn.fetchval("SELECT detail FROM timeline WHERE referral_id = $1", kept)
        assert set(detail) == {"service", "note_id"}
        # Nothing is left to do the second time.
        assert await seal_clear_text(conn, TEST_VAULT, IDENTITY_KEY) == {
            "justifications": 0,
            "recorded_by": 0,
            "idempotency": 0,
        }


async def test_each_submissions_idempotency_record_is_keyed_or_cleared(
    database_url: str,
) -> None:
    """Since resubmissions every submission keeps its own idempotency record (migration 060
    copied each referral's first one there, in the clear): keyed at start, or cleared for a
    referral already erased, like the referral's own."""
    async with _migrated(database_url) as conn:
        kept = await _referral(conn, erased=False, key="s1")
        gone = await _referral(conn, erased=True, key="s2")
        for referral_id, key in ((kept, "s1"), (gone, "s2")):
            for version, sent in ((1, key), (2, f"{key}-again")):
                await conn.execute(
                    """INSERT INTO submissions (referral_id, version, submitted_at,
                           submitted_by, facts, idempotency_key, request_hash)
                       VALUES ($1, $2, now(), 'someone', '{}'::jsonb, $3, $4)""",
                    referral_id,
                    version,
                    sent,
                    hashlib.sha256(sent.encode()).hexdigest(),
                )
        done = await seal_clear_text(conn, TEST_VAULT, IDENTITY_KEY)
        assert done["idempotency"] == 2 + 4  # two referrals, four submissions
        rows = {
            (r["referral_id"], r["version"]): r
            for r in await conn.fetch("SELECT * FROM submissions")
        }
        assert all(
            r["idempotency_key"] is None and r["request_hash"] is None for r in rows.values()
        )
        assert rows[kept, 2]["idempotency_hmac"] == keyed_idempotency_key(IDENTITY_KEY, "s1-again")
        assert rows[kept, 2]["request_hmac"] is not None
        assert rows[gone, 1]["idempotency_hmac"] is None
        assert rows[gone, 2]["request_hmac"] is None
        assert (await seal_clear_text(conn, TEST_VAULT, IDENTITY_KEY))["idempotency"] == 0
