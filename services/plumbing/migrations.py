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


async def apply(url: str, schema: str, components: dict[str, Path]) -> list[str]:
    """Bring ``schema`` up to date; returns the names of the migrations applied now."""
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
    finally:
        await conn.close()
    return applied_now


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
    database's address and none of the secrets the running service needs."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", secrets_dir=secrets_dir()
    )

    database_url: str = Field(description="postgresql://user@host:port/database")
    db_schema: str | None = None
    service: str | None = Field(default=None, description="For an adapter: its service.")


def migrate_command(service_migrations: Path, schema: Callable[[MigrationSettings], str]) -> None:
    settings = MigrationSettings()
    name = schema(settings)
    applied = asyncio.run(apply(settings.database_url, name, components(service_migrations)))
    print(f"{name}: {len(applied)} migrations applied")
