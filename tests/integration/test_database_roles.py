"""Least privilege in PostgreSQL (issue 25, finding 6): the schemas belong to an owner that
is no superuser, each service logs in as its own role with a password, and that role can
read and write its own tables' rows and nothing else: no other schema, no change to a
table, no trigger switched off, no row of an audit table altered or removed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from deploy import database_roles
from services.plumbing import migrations
from services.plumbing.webhook_store import delete_ended
from services.referral_intake import bootstrap as intake_bootstrap
from services.referral_intake.adapters import referrer_webhooks
from services.router import bootstrap as router_bootstrap

INTAKE_MIGRATIONS = Path(intake_bootstrap.__file__).parent / "migrations"
ROUTER_MIGRATIONS = Path(router_bootstrap.__file__).parent / "migrations"


@pytest.fixture(scope="module")
async def roles(pg_admin_url: str) -> dict[str, str]:
    """A database provisioned as the local stack does it, migrated as the owner; the URL of
    each role by name."""
    database = f"roles_{uuid.uuid4().hex[:8]}"
    passwords = {role: database_roles.new_password() for role in database_roles.roles()}
    await database_roles.provision(pg_admin_url, database, passwords)
    url = database_roles.with_database(pg_admin_url, database)
    urls = {role: database_roles.with_role(url, role, pw) for role, pw in passwords.items()}
    owner = urls[database_roles.OWNER]
    for schema, directory in (("intake", INTAKE_MIGRATIONS), ("router", ROUTER_MIGRATIONS)):
        await migrations.apply(
            owner,
            schema,
            migrations.components(directory),
            app_role=database_roles.app_role(schema),
        )
    return urls


@asynccontextmanager
async def _as(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection logged in by ``url``'s role, working in intake's schema; closed after."""
    conn = await asyncpg.connect(url, server_settings={"search_path": "intake"})
    try:
        yield conn
    finally:
        await conn.close()


async def _is_superuser(conn: asyncpg.Connection) -> object:
    """``pg_roles.rolsuper`` of the role ``conn`` is logged in as, as PostgreSQL says it."""
    return await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")


async def test_a_service_role_works_its_own_rows(roles: dict[str, str]) -> None:
    async with _as(roles["hub_intake"]) as conn:
        assert await _is_superuser(conn) is False
        await conn.execute(
            """INSERT INTO disclosure_log (referral_id, accessor, fields, purpose)
               VALUES ($1, 'test', ARRAY['name'], 'triage')""",
            uuid.uuid4(),
        )
        assert await conn.fetchval("SELECT count(*) FROM disclosure_log") >= 1
        await conn.execute("UPDATE reconciliation SET attempts = attempts WHERE false")
        # It only checks that migrations ran; it cannot record one.
        assert await migrations.is_up_to_date(
            roles["hub_intake"], "intake", migrations.components(INTAKE_MIGRATIONS)
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM schema_migrations")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE disclosure_log SET purpose = 'changed'",
        "DELETE FROM disclosure_log",
        "TRUNCATE disclosure_log",
        "DELETE FROM erasures",
        "UPDATE erasures SET reason = 'changed'",
        "ALTER TABLE disclosure_log DISABLE TRIGGER ALL",
        "ALTER TABLE disclosure_log DISABLE TRIGGER disclosure_log_append_only",
        "DROP TRIGGER disclosure_log_append_only ON disclosure_log",
        "SET session_replication_role = replica",
        "ALTER TABLE referrals ADD COLUMN extra text",
        "CREATE TABLE intake.mine (x int)",
        "CREATE TABLE public.mine (x int)",
        "SELECT * FROM router.decisions",
        "TRUNCATE referrals",
        "ALTER ROLE hub_intake SUPERUSER",
        "CREATE ROLE another",
    ],
)
async def test_the_service_role_cannot(roles: dict[str, str], statement: str) -> None:
    async with _as(roles["hub_intake"]) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)


async def test_the_audit_tables_refuse_changes_even_from_their_owner(roles: dict[str, str]) -> None:
    async with _as(roles[database_roles.OWNER]) as owner:
        assert await _is_superuser(owner) is False
        # (Row triggers need a row; the statement trigger refuses TRUNCATE outright.)
        await owner.execute(
            """INSERT INTO disclosure_log (referral_id, accessor, fields, purpose)
               VALUES ($1, 'owner test', ARRAY['name'], 'audit')""",
            uuid.uuid4(),
        )
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner.execute("DELETE FROM disclosure_log")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner.execute("TRUNCATE erasures")
        # The owner could switch its triggers off; session_replication_role it cannot.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await owner.execute("SET session_replication_role = replica")


async def test_the_service_role_removes_old_webhook_deliveries_with_their_attempts(
    roles: dict[str, str],
) -> None:
    """The retention job runs as the service's role: the delivery tables are no audit
    tables, so it may remove what is past its period (and nothing younger)."""
    old, young = f"msg_old_{uuid.uuid4().hex}", f"msg_young_{uuid.uuid4().hex}"
    async with _as(roles["hub_intake"]) as conn:
        for webhook_id, days in ((old, 31), (young, 29)):
            await conn.execute(
                """INSERT INTO referrer_deliveries (webhook_id, owner, referral_id, timeline_id,
                                                    kind, payload, state, created_at)
                   VALUES ($1, 'roles test', $2, 1, 'status_changed', '{}', 'delivered',
                           now() - make_interval(days => $3))""",
                webhook_id,
                uuid.uuid4(),
                days,
            )
            await conn.execute(
                """INSERT INTO referrer_delivery_attempts (webhook_id, attempt, at, duration_ms)
                   VALUES ($1, 1, now(), 5)""",
                webhook_id,
            )
        now = datetime.now(UTC)
        removed = await delete_ended(
            conn,
            referrer_webhooks.TABLES,
            delivered_before=now - timedelta(days=30),
            ended_before=now - timedelta(days=90),
            limit=100,
        )
        assert removed == 1
        kept = await conn.fetch(
            "SELECT webhook_id FROM referrer_deliveries WHERE owner = 'roles test'"
        )
        assert [row["webhook_id"] for row in kept] == [young]
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM referrer_delivery_attempts WHERE webhook_id = $1", old
            )
            == 0
        )


async def test_one_service_cannot_read_anothers_schema(roles: dict[str, str]) -> None:
    router = await asyncpg.connect(roles["hub_router"])
    try:
        assert await router.fetchval("SELECT count(*) FROM router.decisions") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.fetch("SELECT * FROM intake.vault")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.execute("UPDATE router.decisions SET facts = facts")
    finally:
        await router.close()


async def test_no_role_logs_in_without_its_password(roles: dict[str, str]) -> None:
    url = roles["hub_intake"]
    without = url.replace(url.split("//", 1)[1].split("@", 1)[0], "hub_intake")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(without)
    wrong = database_roles.with_role(url, "hub_intake", database_roles.new_password())
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)


async def test_an_embedded_database_made_with_trust_is_switched_to_passwords(
    tmp_path: Path,
) -> None:
    """A `.dev/pgdata` an earlier version made trusting everyone on 127.0.0.1 requires
    passwords from its next start on."""
    from deploy.localstack.ports import free_port
    from deploy.localstack.postgres import EmbeddedPostgres

    password = database_roles.new_password()
    server = EmbeddedPostgres(
        tmp_path / "pgdata", free_port(), tmp_path / "pg.log", password=password, durable=False
    )
    await asyncio.to_thread(server.start)
    server.stop()
    hba = tmp_path / "pgdata" / "pg_hba.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    await asyncio.to_thread(server.start)
    try:
        assert "trust" not in hba.read_text()
        conn = await asyncpg.connect(server.url())
        await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
    finally:
        server.stop()
