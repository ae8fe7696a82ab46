"""The broker and the database killed under load, on a hub of the test's own, and started
again by the supervisor: the broker on its log (topics, records and committed offsets kept),
the database on its data; while PostgreSQL is down intake answers 503 with Retry-After, never
a 500, and recovers without a restart. Every referral reaches its provider exactly once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from schemas.codes import Service
from tests.support.faults import (
    Submitter,
    assert_each_reached_its_provider_once,
    assert_outboxes_drain,
    in_background,
)
from tests.support.referrals import high_risk_da, referral
from tests.support.stack import RunningStack, running_stack
from tests.support.waiting import eventually_sync

BURST = 30


@pytest.fixture(scope="module")
def own_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(Path(tmp_path_factory.mktemp("faulty-hub"))) as stack:
        yield stack


def _kill_infrastructure_midway(
    hub: RunningStack, which: str, submitted: list[str]
) -> Future[None]:
    def kill() -> None:
        eventually_sync(lambda: len(submitted) >= BURST // 3, timeout=120)
        pid: int = hub.info()["infrastructure"][which]
        os.kill(pid, signal.SIGKILL)
        eventually_sync(
            lambda: hub.info()["infrastructure"][which] != pid,
            timeout=60,
            what=f"the supervisor to restart {which}",
        )

    return in_background(kill)


def test_broker_killed_and_restarted_on_its_log(own_hub: RunningStack) -> None:
    submitter = Submitter(own_hub.staff())
    submitted: list[str] = []
    killer = _kill_infrastructure_midway(own_hub, "kafka", submitted)
    for n in range(BURST):
        submitted.append(submitter.submit(high_risk_da(crime_reference=f"B/{n}")))
    killer.result(timeout=120)  # killed, and started again
    assert set(submitter.answers) <= {202}  # the outbox held the events while the broker was away
    assert_each_reached_its_provider_once(own_hub, submitted, Service.IDVA, timeout=180)
    assert_outboxes_drain(own_hub)


def test_database_restart(own_hub: RunningStack) -> None:
    submitter = Submitter(own_hub.staff())
    submitted: list[str] = []
    killer = _kill_infrastructure_midway(own_hub, "postgres", submitted)
    for n in range(BURST):
        submitted.append(submitter.submit(referral(crime_reference=f"P/{n}")))
    killer.result(timeout=120)  # killed, and started again
    assert set(submitter.answers) <= {0, 202, 503}, dict(submitter.answers)
    assert_each_reached_its_provider_once(own_hub, submitted, Service.VAL, timeout=180)
    assert_outboxes_drain(own_hub)
