"""The fault suite's own hub, scaled out as ``make run ROUTERS=3 ADAPTER_REPLICAS=2`` runs it:
three routers and two processes per provider adapter, each service's processes sharing its
consumer groups. Started once for the tests that kill its processes, its broker or its
database (the ``hub`` fixture stays unharmed for the rest)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.stack import RunningStack, running_stack

ROUTERS = 3
ADAPTER_REPLICAS = 2


@contextmanager
def scaled_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A hub scaled out as ``make run ROUTERS=3 ADAPTER_REPLICAS=2``, in a folder of its own."""
    # Reconciliation waits longer than a broker takes to restart on its log, so that a
    # re-drive means something was lost, and the tests can tell.
    settings = {"RECONCILE_AFTER_SECONDS": "60"}
    with running_stack(
        tmp_path_factory.mktemp("scaled-hub"),
        env_overrides=settings,
        extra_args=("--routers", str(ROUTERS), "--adapter-replicas", str(ADAPTER_REPLICAS)),
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def scaled_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with scaled_stack(tmp_path_factory) as stack:
        yield stack
