"""PostgreSQL access through asyncpg. Each service works in its own schema."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """A connection of our own or one borrowed from a pool: repositories take either."""
else:
    Connection = asyncpg.Connection

# Errors that mean "the database is not reachable right now", as opposed to "this query is wrong".
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # the server is shutting down or restarting
    # A connection whose server went away between two statements can be left mid-protocol
    # ("cannot switch to state ...; another operation is in progress"). The pool's reset
    # query on release then fails and the connection is thrown away, so asking again works.
    asyncpg.InternalClientError,
    TimeoutError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(
    url: str,
    schema: str,
    *,
    application_name: str,
    min_size: int = 1,
    max_size: int = 10,
    wait_seconds: float = 30.0,
) -> asyncpg.Pool:
    """A pool whose connections see only ``schema``; waits for the server to come up."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(CONNECTION_ERRORS),
        wait=wait_exponential(multiplier=0.1, max=2),
        stop=stop_after_delay(wait_seconds),
        reraise=True,
    ):
        with attempt:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                command_timeout=30,
                server_settings={"search_path": schema, "application_name": application_name},
            )
    return pool


async def connect(url: str, **kwargs: Any) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(url, **kwargs)
    await _init_connection(conn)
    return conn


async def is_reachable(pool: asyncpg.Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except CONNECTION_ERRORS:
        return False
    return True
