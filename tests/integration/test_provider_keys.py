"""A retired provider key stays retired (issue 25, finding 1): start-up adds the configured
keys, never revives one the provider retired, and the database refuses reviving or
forgetting a key whoever asks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.plumbing import migrations
from services.plumbing.auth import hash_api_key
from services.provider_adapter import bootstrap
from services.provider_adapter.adapters import repository

SCHEMA = "adapter_idva"
CONFIGURED = "pk_idva_configured_key_for_this_test_only_000000"


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    directory = Path(bootstrap.__file__).parent / "migrations"
    await migrations.apply(database_url, SCHEMA, migrations.components(directory))
    connection = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    yield connection
    await connection.close()


async def test_a_configured_key_the_provider_retired_is_not_revived_at_start(
    conn: asyncpg.Connection,
) -> None:
    configured = hash_api_key(CONFIGURED)
    assert await repository.replace_configured_keys(conn, [configured]) == []
    rolled = await repository.add_key(conn, hash_api_key("pk_idva_rolled"), "pk_idva_rol", "r")
    (old,) = [r for r in await repository.active_keys(conn) if r["label"] == "configured"]
    assert await repository.revoke_key(conn, old["key_id"])
    # The adapter starts again with the same settings: the retired key stays retired, and
    # start-up is told so (to log it).
    assert await repository.replace_configured_keys(conn, [configured]) == [configured]
    assert not await repository.touch_key(conn, configured)
    assert [r["key_id"] for r in await repository.active_keys(conn)] == [rolled["key_id"]]


async def test_the_database_refuses_to_revive_or_forget_a_retired_key(
    conn: asyncpg.Connection,
) -> None:
    configured = hash_api_key(CONFIGURED)
    await repository.replace_configured_keys(conn, [configured])
    await conn.execute("UPDATE provider_keys SET revoked_at = now()")
    with pytest.raises(asyncpg.RaiseError, match="cannot be restored"):
        await conn.execute("UPDATE provider_keys SET revoked_at = NULL")
    with pytest.raises(asyncpg.RaiseError, match="never deleted"):
        await conn.execute("DELETE FROM provider_keys")
    # Re-inserting it as new is refused too (its hash is kept).
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute(
            "INSERT INTO provider_keys (key_hash, label) VALUES ($1, 'configured')", configured
        )


async def test_a_configured_key_no_longer_listed_is_retired(conn: asyncpg.Connection) -> None:
    first, second = hash_api_key(CONFIGURED), hash_api_key(CONFIGURED + "2")
    await repository.replace_configured_keys(conn, [first])
    await repository.replace_configured_keys(conn, [second])
    assert not await repository.touch_key(conn, first)
    assert await repository.touch_key(conn, second)
