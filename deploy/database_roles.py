"""The hub's database roles (issue 25, "least privilege in the database").

- ``hub_owner`` owns the database, every schema and every table in them; migrations run as
  it (``DATABASE_MIGRATION_URL``). It is not a superuser.
- one login role per service (``hub_intake``, ``hub_router``, ``hub_adapter_idva`` ...),
  each with a password of its own (``DATABASE_URL``). The migrate command gives it what its
  service needs on its own schema (``services.plumbing.migrations.grant_service_role``):
  rows of its tables, never another schema, never a change to a table, never a row of an
  audit table altered.

``provision`` makes them, as a superuser (or a role with CREATEROLE and CREATEDB), and hands
to the owner what an earlier version made as the superuser. The local stack runs it against
the embedded server; ``deploy/postgres/init-roles.sh`` does the same in docker compose; on
Kubernetes, the database's administrators do (README, "Security").
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from schemas.codes import Service

OWNER = "hub_owner"
SCHEMAS = ("intake", "router", *(f"adapter_{s.value.lower()}" for s in Service))
"""Every schema the hub's services keep (each service's ``db_schema``)."""

_PLAIN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PASSWORD = re.compile(r"[A-Za-z0-9_\-]{16,128}")


def app_role(schema: str) -> str:
    """The login role of the service that keeps ``schema``."""
    return f"hub_{schema}"


def roles() -> list[str]:
    return [OWNER, *(app_role(schema) for schema in SCHEMAS)]


def new_password() -> str:
    return secrets.token_urlsafe(24)


def _ident(name: str) -> str:
    if not _PLAIN.fullmatch(name):
        raise ValueError(f"not a plain name: {name!r}")
    return f'"{name}"'


def _literal(password: str) -> str:
    # Passwords are ours (``new_password``): the shape check keeps quoting trivial.
    if not _PASSWORD.fullmatch(password):
        raise ValueError("a password of 16 to 128 URL-safe characters is expected")
    return f"'{password}'"


def with_role(url: str, role: str, password: str) -> str:
    """``url`` (any role's) for ``role`` with ``password``."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def provision(admin_url: str, database: str, passwords: dict[str, str]) -> None:
    """Make (or bring up to date) the owner and every service's role with ``passwords``
    (by role name), the database ``database`` owned by the owner, and hand the owner the
    schemas and objects someone else made in it. Idempotent."""
    admin = await asyncpg.connect(admin_url)
    try:
        for role in roles():
            exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            await admin.execute(
                f"{verb} ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD {_literal(passwords[role])}"
            )
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await admin.execute(f"ALTER DATABASE {_ident(database)} OWNER TO {_ident(OWNER)}")
        else:
            await admin.execute(f"CREATE DATABASE {_ident(database)} OWNER {_ident(OWNER)}")
        await admin.execute(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC")
        for role in roles():
            await admin.execute(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {_ident(role)}")
    finally:
        await admin.close()
    inside = await asyncpg.connect(with_database(admin_url, database))
    try:
        await inside.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for schema in SCHEMAS:
            await _adopt(inside, schema)
        await _adopt(inside, "ops")
    finally:
        await inside.close()


async def _adopt(conn: asyncpg.Connection, schema: str) -> None:
    """Objects an earlier version made as the superuser become the owner's."""
    if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
        return
    owner = _ident(OWNER)
    await conn.execute(f"ALTER SCHEMA {_ident(schema)} OWNER TO {owner}")
    relations = await conn.fetch(
        """SELECT c.relname, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
             AND pg_get_userbyid(c.relowner) <> $2""",
        schema,
        OWNER,
    )
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    for row in relations:
        await conn.execute(
            f"ALTER {kinds[row['relkind']]} {_ident(schema)}.{_ident(row['relname'])} "
            f"OWNER TO {owner}"
        )
    functions = await conn.fetch(
        """SELECT p.oid::regprocedure::text AS signature FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = $1 AND pg_get_userbyid(p.proowner) <> $2""",
        schema,
        OWNER,
    )
    for row in functions:
        # regprocedure's text is the function's own, schema-qualified signature.
        await conn.execute(f"ALTER FUNCTION {row['signature']} OWNER TO {owner}")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))
