"""Service processes killed (SIGKILL) or stopped (SIGTERM) in the middle of a burst of
referrals: nothing is lost and nothing happens twice."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import Future

import pytest

from schemas.codes import Service
from tests.support.faults import (
    Submitter,
    alive,
    assert_each_reached_its_provider_once,
    assert_outboxes_drain,
    crime_reference,
    in_background,
)
from tests.support.referrals import referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

BURST = 40


def _kill_during_burst(
    hub: RunningStack, process: str, sig: int, after: int, submitted: list[str]
) -> Future[float]:
    """In the background: once ``after`` referrals are in, send ``sig`` to ``process``;
    the seconds it took to exit, once the supervisor has started it again."""

    def kill() -> float:
        eventually_sync(lambda: len(submitted) >= after, timeout=120)
        pid: int = hub.info()["processes"][process]
        sent = time.monotonic()
        os.kill(pid, sig)
        eventually_sync(
            lambda: not alive(pid), timeout=30, interval=0.05, what=f"{process} to exit"
        )
        exit_seconds = time.monotonic() - sent
        eventually_sync(
            lambda: hub.info()["processes"][process] != pid, timeout=30, what="a restart"
        )
        return exit_seconds

    return in_background(kill)


@pytest.mark.parametrize("process", ["router", "provider_adapter.VAL", "referral_intake"])
def test_sigkill_mid_burst_loses_and_duplicates_nothing(hub: RunningStack, process: str) -> None:
    submitter = Submitter(hub.staff())
    submitted: list[str] = []
    killed = _kill_during_burst(hub, process, signal.SIGKILL, BURST // 3, submitted)
    for n in range(BURST):
        submitted.append(
            submitter.submit(referral(crime_reference=crime_reference("K", process, n)))
        )
    killed.result(timeout=120)  # it died and was restarted
    assert len(set(submitted)) == BURST
    assert_each_reached_its_provider_once(hub, submitted, Service.VAL)
    assert_outboxes_drain(hub)


def test_sigterm_finishes_in_flight_work_and_exits_within_15_seconds(hub: RunningStack) -> None:
    submitter = Submitter(hub.staff())
    submitted: list[str] = []
    stopped = _kill_during_burst(hub, "router", signal.SIGTERM, BURST // 2, submitted)
    for n in range(BURST):
        submitted.append(submitter.submit(referral(crime_reference=f"T/{n}")))
    assert stopped.result(timeout=120) < 15
    assert_each_reached_its_provider_once(hub, submitted, Service.VAL)
    assert_outboxes_drain(hub)
