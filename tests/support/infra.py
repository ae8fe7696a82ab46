"""Real infrastructure for tests, on free ports, cleaned up afterwards: the embedded
PostgreSQL (or the server named by TEST_DATABASE_URL) and Apache Kafka brokers."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from aiokafka.admin import NewTopic

from deploy.database_roles import new_password
from deploy.localstack.kafka import KafkaBroker, Security
from deploy.localstack.ports import free_port
from deploy.localstack.postgres import EmbeddedPostgres
from schemas.bus_access import ADMIN
from schemas.topics import PARTITIONS, dead_letter_for, retry_topics_for
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client, ensure_topics


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
def kafka_broker(workdir: Path, overrides: dict[str, str] | None = None) -> Iterator[KafkaBroker]:
    """An Apache Kafka node of its own, its log under ``workdir``, secured as the local
    stack's is (SASL/SCRAM-SHA-512 and the StandardAuthorizer; ``admin_access`` is its super
    user)."""
    home = workdir / f"kafka-{uuid.uuid4().hex[:6]}"
    security = Security(secrets.token_urlsafe(18))
    broker = KafkaBroker(
        home, free_port(), home / "kafka.log", security=security, overrides=overrides
    )
    broker.start(say=lambda _: None)
    try:
        yield broker
    finally:
        broker.stop()


def admin_access(broker: KafkaBroker) -> KafkaAccess:
    assert broker.security is not None
    return KafkaAccess(broker.bootstrap_servers).as_user(ADMIN, broker.security.admin_password)


async def broker_with_topics(admin: KafkaAccess) -> KafkaAccess:
    await ensure_topics(admin)
    return admin


async def fresh_topic(kafka: KafkaAccess, prefix: str = "test") -> str:
    """A new topic of ``PARTITIONS`` partitions with its retry and dead-letter topics, for a
    test that needs a topic no other test has written to; its name."""
    topic = f"{prefix}.{uuid.uuid4().hex[:10]}.v1"
    names = [topic, *retry_topics_for(topic), dead_letter_for(topic)]
    async with admin_client(kafka) as admin:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    return topic
