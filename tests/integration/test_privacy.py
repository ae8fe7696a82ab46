"""The vault, the disclosure log, erasure and retention, against real PostgreSQL: what a
data-protection officer would check."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from schemas import events, topics
from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.adapters.vault import Vault, VaultKeyMissing
from services.referral_intake.bootstrap import build
from services.referral_intake.handlers import erasure
from services.referral_intake.settings import IntakeSettings
from tests.support.consuming import applied_at_intake
from tests.support.intake import router_decided
from tests.support.referrals import marked
from tests.support.services import CREDENTIALS, TEST_VAULT, TEST_VAULT_KEY, common_env, serving


@pytest.fixture(scope="module")
async def intake(
    module_database_url: str, module_kafka: KafkaAccess
) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeSettings(**common_env(module_database_url, module_kafka))  # type: ignore[arg-type]
    async with serving(build(settings).create_app(), CREDENTIALS.staff_tokens["triage"]) as client:
        yield client


@pytest.fixture
async def conn(module_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        module_database_url, server_settings={"search_path": "intake"}
    )
    try:
        yield connection
    finally:
        await connection.close()


def _as(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {CREDENTIALS.staff_tokens[role]}"}


async def _submit(intake: httpx.AsyncClient) -> tuple[str, list[str]]:
    body, markers = marked()
    response = await intake.post("/v1/referrals", json=body)
    assert response.status_code == 202, response.text
    return response.json()["referral_id"], markers


async def test_personal_data_is_stored_only_as_ciphertext(
    intake: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    referral_id, markers = await _submit(intake)
    entry = await conn.fetchrow(
        "SELECT personal, key_id, nonce, ciphertext FROM vault WHERE referral_id = $1",
        uuid.UUID(referral_id),
    )
    assert entry is not None
    assert entry["personal"] is None
    assert entry["key_id"] == "test-1"
    assert len(entry["nonce"]) == 12
    # Nothing in the intake schema holds a marker in the clear: not the vault, not the
    # referral's facts, not the timeline, not the outbox.
    tables = [
        r["table_name"]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'intake'"
        )
    ]
    for table in tables:
        dump = await conn.fetchval(
            f"SELECT coalesce(string_agg(t::text, ' '), '') FROM intake.{table} t"  # noqa: S608
        )
        for marker in markers:
            assert marker not in dump, f"{marker} in the clear in {table}"
            assert marker.encode().hex() not in dump, f"{marker} as bytes in {table}"


async def test_staff_reads_are_logged_and_the_log_cannot_be_changed(
    intake: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    referral_id, markers = await _submit(intake)
    first = await intake.get(f"/v1/referrals/{referral_id}/contact", params={"purpose": "triage"})
    assert first.status_code == 200
    assert first.json()["name"] in markers
    assert first.json()["date_of_birth"]
    again = await intake.get(
        f"/v1/referrals/{referral_id}/contact", params={"purpose": "safeguarding"}
    )
    assert again.status_code == 200
    no_purpose = await intake.get(f"/v1/referrals/{referral_id}/contact")
    assert no_purpose.status_code == 422

    log = await intake.get(f"/v1/referrals/{referral_id}/disclosures", headers=_as("supervisor"))
    assert log.status_code == 200
    rows = log.json()["disclosures"]
    assert [(r["accessor"], r["purpose"]) for r in rows] == [
        ("local.triage", "triage"),
        ("local.triage", "safeguarding"),
    ]
    assert {"name", "date_of_birth"} <= set(rows[0]["fields"])
    assert all(marker not in log.text for marker in markers)

    rid = uuid.UUID(referral_id)
    for statement in (
        "UPDATE disclosure_log SET purpose = 'nothing' WHERE referral_id = $1",
        "DELETE FROM disclosure_log WHERE referral_id = $1",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(statement, rid)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("TRUNCATE disclosure_log")
    assert (
        await conn.fetchval("SELECT count(*) FROM disclosure_log WHERE referral_id = $1", rid) == 2
    )


async def test_vault_keys_rotate_and_retired_keys_can_go(
    intake: httpx.AsyncClient, module_database_url: str, conn: asyncpg.Connection
) -> None:
    referral_id, markers = await _submit(intake)
    rid = uuid.UUID(referral_id)
    new_key = base64.b64encode(b"the next test vault key, 32 byte").decode()
    rotating = Vault({"test-1": TEST_VAULT_KEY, "test-2": new_key}, "test-2")
    pool = await db.create_pool(module_database_url, "intake", application_name="test")
    try:
        async with pool.acquire() as c, c.transaction():
            while await rotating.rotate(c):
                pass
        assert await conn.fetchval("SELECT key_id FROM vault WHERE referral_id = $1", rid) == (
            "test-2"
        )
        only_new = Vault({"test-2": new_key}, "test-2")
        async with pool.acquire() as c:
            personal = await only_new.read(c, rid)
            assert personal is not None
            assert personal["contact"]["name"] in markers
            with pytest.raises(VaultKeyMissing):
                await TEST_VAULT.read(c, rid)
        # Back to the suite's key, for the tests that follow.
        async with pool.acquire() as c, c.transaction():
            while await Vault({"test-1": TEST_VAULT_KEY, "test-2": new_key}, "test-1").rotate(c):
                pass
    finally:
        await pool.close()


async def test_an_erasure_request_wipes_the_vault_and_keeps_the_coded_facts(
    intake: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    referral_id, markers = await _submit(intake)
    rid = uuid.UUID(referral_id)
    as_supervisor = _as("supervisor")
    bad = await intake.post(
        f"/v1/referrals/{referral_id}/erasure", json={"reason": markers[0]}, headers=as_supervisor
    )
    assert bad.status_code == 422
    assert markers[0] not in bad.text
    assert await conn.fetchval("SELECT count(*) FROM vault WHERE referral_id = $1", rid) == 1

    done = await intake.post(
        f"/v1/referrals/{referral_id}/erasure",
        json={"reason": "data_subject_request"},
        headers=as_supervisor,
    )
    assert done.status_code == 200, done.text
    assert await conn.fetchval("SELECT count(*) FROM vault WHERE referral_id = $1", rid) == 0
    gone = await intake.get(f"/v1/referrals/{referral_id}/contact", params={"purpose": "triage"})
    assert gone.status_code == 410
    view = await intake.get(f"/v1/referrals/{referral_id}")
    assert view.status_code == 200
    assert view.json()["referral_id"] == referral_id  # the coded record stays
    logged = await conn.fetchrow("SELECT reason, actor FROM erasures WHERE referral_id = $1", rid)
    assert logged is not None
    assert dict(logged) == {"reason": "data_subject_request", "actor": "local.supervisor"}
    # Every provider's adapter is told, in the erasure's own transaction (issue 15).
    told = await conn.fetch(
        """SELECT topic, payload->'data'->>'reason' AS reason FROM outbox
           WHERE key = $1 AND payload->>'type' = $2""",
        referral_id,
        events.PERSONAL_DATA_ERASED,
    )
    assert [(r["topic"], r["reason"]) for r in told] == [
        (topics.REFERRAL_SLA, "data_subject_request")
    ]
    twice = await intake.post(
        f"/v1/referrals/{referral_id}/erasure",
        json={"reason": "data_subject_request"},
        headers=as_supervisor,
    )
    assert twice.status_code == 409


async def _close_without_service(module_database_url: str, referral_id: uuid.UUID) -> None:
    """The router's answer for a referral nobody can serve: the referral is closed."""
    event = router_decided(
        referral_id, status="no_service", reason="consent_refused", enhanced_rights=False
    )
    pool = await db.create_pool(module_database_url, "intake", application_name="test")
    try:
        await applied_at_intake(pool, event)
    finally:
        await pool.close()


async def test_retention_erases_only_what_closed_before_the_period(
    intake: httpx.AsyncClient, module_database_url: str, conn: asyncpg.Connection
) -> None:
    closed, _ = await _submit(intake)
    still_open, _ = await _submit(intake)
    await _close_without_service(module_database_url, uuid.UUID(closed))
    facts_before = await conn.fetchval(
        "SELECT facts FROM referrals WHERE referral_id = $1", uuid.UUID(closed)
    )
    pool = await db.create_pool(module_database_url, "intake", application_name="test")
    try:
        retention = timedelta(days=730)
        not_yet = await erasure.erase_expired(pool, TEST_VAULT, datetime.now(UTC), retention)
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM vault WHERE referral_id = $1", uuid.UUID(closed)
            )
            == 1
        )
        later = datetime.now(UTC) + retention + timedelta(days=1)
        erased = await erasure.erase_expired(pool, TEST_VAULT, later, retention)
    finally:
        await pool.close()
    assert not_yet == 0
    assert erased == 1
    vault_ids = {
        str(r["referral_id"])
        for r in await conn.fetch(
            "SELECT referral_id FROM vault WHERE referral_id = ANY($1::uuid[])",
            [uuid.UUID(closed), uuid.UUID(still_open)],
        )
    }
    assert vault_ids == {still_open}
    row = await conn.fetchrow(
        "SELECT status, facts, erased_at FROM referrals WHERE referral_id = $1", uuid.UUID(closed)
    )
    assert row is not None
    assert row["status"] == "no_service"
    assert row["facts"] == facts_before  # the coded facts reports count stay as they were
    assert row["erased_at"] is not None
    assert (
        await conn.fetchval("SELECT actor FROM erasures WHERE referral_id = $1", uuid.UUID(closed))
        == erasure.RETENTION
    )
    told = await conn.fetch(
        """SELECT payload->'data'->>'reason' AS reason FROM outbox
           WHERE key = $1 AND payload->>'type' = $2""",
        closed,
        events.PERSONAL_DATA_ERASED,
    )
    assert [r["reason"] for r in told] == [erasure.RETENTION]
