"""Fixtures for real infrastructure: a PostgreSQL server for the session (a fresh database
per test that asks), a Tansu broker per test that asks, and the whole hub as processes
for the e2e and fault suites."""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
# The suite runs with development settings (a local issuer, a broker with no idempotence):
# say so once, for the settings built here and for the stacks started from here.
os.environ.setdefault("HUB_ENVIRONMENT", "test")

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


@pytest.fixture
async def kafka(tmp_path: Path) -> AsyncIterator[str]:
    """A broker of the test's own, with every hub topic created."""
    with infra.tansu_broker(tmp_path) as broker:
        yield await infra.broker_with_topics(broker)


@pytest.fixture(scope="module")
async def module_kafka(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A broker shared by one test module."""
    with infra.tansu_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield await infra.broker_with_topics(broker)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The whole hub, started by the same command as ``make run``, on free ports."""
    state_dir = tmp_path_factory.mktemp("hub")
    # Every process also writes its finished spans to a file, for the tests to read.
    spans = {"TELEMETRY_SPANS_DIR": str(state_dir / "spans")}
    with running_stack(state_dir, env_overrides=spans) as stack:
        yield stack
