"""Numbered SQL migrations (``NNN_name.sql``), applied at start under an advisory lock.

Each service keeps its own ``schema_migrations`` table in its own schema, with one row per
(component, version): the shared plumbing tables (outbox, inbox) are one component, the
service's own tables another.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.plumbing import db
from services.plumbing.settings import secrets_dir

PLUMBING_MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    path: Path


def discover(component: str, directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNN_what_it_does.sql")
        found.append(Migration(component, int(match.group(1)), path))
    return found


def _quote(identifier: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", identifier):
        raise ValueError(f"not a plain schema name: {identifier!r}")
    return f'"{identifier}"'


async def apply(
    url: str, schema: str, components: dict[str, Path], *, app_role: str | None = None
) -> list[str]:
    """Bring ``schema`` up to date; returns the names of the migrations applied now.

    ``url`` is the owner's (the role that owns the schema and its objects). With
    ``app_role`` (the service's own login role), that role is then given what the service
    needs and nothing more (``grant_service_role``)."""
    migrations = [m for name, path in components.items() for m in discover(name, path)]
    conn = await db.connect(url)
    applied_now: list[str] = []
    try:
        async with conn.transaction():
            # Several replicas may start at once: one migrates, the others wait, then find
            # nothing left to do.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
            await conn.execute(f"SET LOCAL search_path TO {_quote(schema)}")
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       component text NOT NULL,
                       version integer NOT NULL,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, version))"""
            )
            done = {
                (r["component"], r["version"])
                for r in await conn.fetch("SELECT component, version FROM schema_migrations")
            }
            for migration in migrations:
                if (migration.component, migration.version) in done:
                    continue
                await conn.execute(migration.path.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                    migration.component,
                    migration.version,
                    migration.path.name,
                )
                applied_now.append(f"{migration.component}/{migration.path.name}")
            if app_role is not None:
                await grant_service_role(conn, schema, app_role)
    finally:
        await conn.close()
    return applied_now


async def grant_service_role(conn: asyncpg.Connection, schema: str, role: str) -> None:
    """Least privilege for the service's login role (issue 25): it may read and write the
    rows of its own schema's tables, and nothing else. It owns nothing, so it can neither
    change a table (nor switch off its triggers) nor make one; it cannot truncate; it only
    reads ``schema_migrations``; and the audit tables its migrations list in
    ``append_only_tables`` (the disclosure log, erasures ...) it may only read and add to.
    Setting ``session_replication_role`` (which would skip the append-only triggers) needs
    a superuser, or a grant of that parameter nobody is given. Run as the owner, after every
    migration run, so that tables added later are covered."""
    quoted_schema, quoted_role = _quote(schema), _quote_role(role)
    await conn.execute(f"GRANT USAGE ON SCHEMA {quoted_schema} TO {quoted_role}")
    await conn.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted_schema} "
        f"TO {quoted_role}"
    )
    await conn.execute(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted_schema} TO {quoted_role}"
    )
    read_only = ["schema_migrations", "append_only_tables"]
    for table in read_only:
        await conn.execute(
            f"REVOKE INSERT, UPDATE, DELETE ON {quoted_schema}.{_quote(table)} FROM {quoted_role}"
        )
    for row in await conn.fetch("SELECT name FROM append_only_tables ORDER BY name"):
        await conn.execute(
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {quoted_schema}.{_quote(row['name'])} "
            f"FROM {quoted_role}"
        )


async def is_up_to_date(url: str, schema: str, components: dict[str, Path]) -> bool:
    """Whether every migration is applied already (a service's own role can tell: it may
    read ``schema_migrations``), so that a service started after its migration job needs
    no rights to change the schema."""
    wanted = {(m.component, m.version) for n, p in components.items() for m in discover(n, p)}
    conn = await db.connect(url)
    try:
        table = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.schema_migrations")
        if table is None:
            return False
        done = {
            (r["component"], r["version"])
            for r in await conn.fetch(
                f"SELECT component, version FROM {_quote(schema)}.schema_migrations"  # noqa: S608 - a checked name
            )
        }
    finally:
        await conn.close()
    return wanted <= done


def _quote_role(role: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"not a plain role name: {role!r}")
    return f'"{role}"'


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if the server does not have it yet."""
    target = url.rsplit("/", 1)[-1].split("?", 1)[0]
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
        try:
            await admin.execute(f"CREATE DATABASE {_quote(target)}")
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
    else:
        await conn.close()


def components(service_migrations: Path) -> dict[str, Path]:
    """The shared plumbing's migrations and a service's own. The component is the package
    that owns the migrations, so every provider's adapter shares one migration history."""
    return {"plumbing": PLUMBING_MIGRATIONS, service_migrations.parent.name: service_migrations}


class MigrationSettings(BaseSettings):
    """All that ``python -m services.<name> migrate`` needs: a migration job holds the
    owner's database address and the name of the service's role, and none of the secrets
    the running service needs (its own database password included)."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", secrets_dir=secrets_dir()
    )

    database_migration_url: str | None = Field(
        default=None,
        description="postgresql://owner:password@host:port/database, the role that owns "
        "the schemas (DATABASE_URL when unset: a single-role database).",
    )
    database_url: str | None = Field(default=None, description="Used when there is no owner.")
    database_app_role: str | None = Field(
        default=None,
        description="The service's own login role, given the privileges it needs (and no "
        "more) after the migrations; unset: no grants (a single-role database).",
    )
    db_schema: str | None = None
    service: str | None = Field(default=None, description="For an adapter: its service.")

    @property
    def owner_url(self) -> str:
        url = self.database_migration_url or self.database_url
        if not url:
            raise SystemExit("DATABASE_MIGRATION_URL (or DATABASE_URL) is needed to migrate")
        return url


def migrate_command(service_migrations: Path, schema: Callable[[MigrationSettings], str]) -> None:
    settings = MigrationSettings()
    name = schema(settings)
    applied = asyncio.run(
        apply(
            settings.owner_url,
            name,
            components(service_migrations),
            app_role=settings.database_app_role,
        )
    )
    print(f"{name}: {len(applied)} migrations applied")
