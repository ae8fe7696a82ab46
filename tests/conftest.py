"""Fixtures for real infrastructure: a PostgreSQL server for the session (a fresh database
per test that asks), one Apache Kafka broker for the session (tests keep apart by their own
keys and consumer groups), and the whole hub as processes for the e2e and fault suites."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
# The suite runs with development settings (a local issuer, a loopback broker without TLS):
# say so once, for the settings built here and for the stacks started from here.
os.environ.setdefault("HUB_ENVIRONMENT", "test")

from deploy.localstack.kafka import KafkaBroker  # noqa: E402
from services.plumbing.kafka_access import KafkaAccess  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.stack import RunningStack, running_stack  # noqa: E402


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with infra.postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
async def database_url(pg_admin_url: str) -> str:
    return await infra.fresh_database(pg_admin_url)


@pytest.fixture(scope="module")
async def module_database_url(pg_admin_url: str) -> str:
    return await infra.fresh_database(pg_admin_url)


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One Apache Kafka node for the session: a JVM takes seconds to start."""
    with infra.kafka_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_admin(kafka_server: KafkaBroker) -> KafkaAccess:
    """The session broker as its admin (super user): what the tests' own clients use."""
    return infra.admin_access(kafka_server)


@pytest.fixture
async def kafka(kafka_admin: KafkaAccess) -> KafkaAccess:
    """The session's broker, with every hub topic. Records of earlier tests are there too:
    a test reads back only its own (its keys, its consumer groups, or a fresh topic)."""
    return await infra.broker_with_topics(kafka_admin)


@pytest.fixture(scope="module")
async def module_kafka(kafka_admin: KafkaAccess) -> KafkaAccess:
    return await infra.broker_with_topics(kafka_admin)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The whole hub, started by the same command as ``make run``, on free ports."""
    state_dir = tmp_path_factory.mktemp("hub")
    # Every process also writes its finished spans to a file, for the tests to read.
    spans = {"TELEMETRY_SPANS_DIR": str(state_dir / "spans")}
    # The webhook dispatchers' fallback poll an hour away: a push that reaches its receiver
    # in a test was woken by the commit that queued it (or its retry's time), never a poll.
    spans["DELIVERY_POLL_SECONDS"] = "3600"
    with running_stack(state_dir, env_overrides=spans) as stack:
        yield stack
