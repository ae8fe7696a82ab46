"""Real infrastructure for tests, on free ports, cleaned up afterwards: the embedded
PostgreSQL (or the server named by TEST_DATABASE_URL) and Tansu brokers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from deploy.database_roles import new_password
from deploy.localstack.ports import free_port
from deploy.localstack.postgres import EmbeddedPostgres
from deploy.localstack.tansu import TansuBroker
from services.plumbing.topics_admin import ensure_topics


@contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """Yields an admin URL (to database ``postgres``) of a server the tests may use."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(
        workdir / "pgdata",
        free_port(),
        workdir / "postgres.log",
        password=new_password(),
        durable=False,
    )
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()


async def fresh_database(admin_url: str) -> str:
    """A new, empty database on the test server; its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def tansu_broker(workdir: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(free_port(), workdir / f"tansu-{uuid.uuid4().hex[:6]}.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def broker_with_topics(broker: TansuBroker) -> str:
    await ensure_topics(broker.bootstrap_servers)
    return broker.bootstrap_servers
