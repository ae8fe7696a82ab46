"""Service processes killed (SIGKILL) or stopped (SIGTERM) in the middle of a burst of
referrals: nothing is lost and nothing happens twice."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from schemas.codes import Service
from tests.support.faults import (
    Submitter,
    assert_each_reached_its_provider_once,
    assert_outboxes_drain,
)
from tests.support.referrals import referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

BURST = 40


def _kill_during_burst(
    hub: RunningStack, process: str, sig: int, after: int, submitted: list[str]
) -> dict[str, float]:
    """In a thread: once ``after`` referrals are in, send ``sig`` to ``process``; report how
    long it took to exit."""
    result: dict[str, float] = {}

    def kill() -> None:
        eventually_sync(lambda: len(submitted) >= after, timeout=120)
        pid: int = hub.info()["processes"][process]
        sent = time.monotonic()
        os.kill(pid, sig)

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        eventually_sync(gone, timeout=30, interval=0.05, what=f"{process} to exit")
        result["exit_seconds"] = time.monotonic() - sent
        eventually_sync(
            lambda: hub.info()["processes"][process] != pid, timeout=30, what="a restart"
        )

    thread = threading.Thread(target=kill)
    thread.start()
    result_thread = thread
    result["_thread"] = 0
    _threads[id(result)] = result_thread
    return result


_threads: dict[int, threading.Thread] = {}


@pytest.mark.parametrize("process", ["router", "provider_adapter.VAL", "referral_intake"])
def test_sigkill_mid_burst_loses_and_duplicates_nothing(hub: RunningStack, process: str) -> None:
    submitter = Submitter(hub.staff())
    submitted: list[str] = []
    outcome = _kill_during_burst(hub, process, signal.SIGKILL, BURST // 3, submitted)
    for n in range(BURST):
        submitted.append(submitter.submit(referral(crime_reference=f"K/{process}/{n}")))
    _threads.pop(id(outcome)).join(timeout=120)
    assert "exit_seconds" in outcome
    assert len(set(submitted)) == BURST
    assert_each_reached_its_provider_once(hub, submitted, Service.VAL)
    assert_outboxes_drain(hub)


def test_sigterm_finishes_in_flight_work_and_exits_within_15_seconds(hub: RunningStack) -> None:
    submitter = Submitter(hub.staff())
    submitted: list[str] = []
    outcome = _kill_during_burst(hub, "router", signal.SIGTERM, BURST // 2, submitted)
    for n in range(BURST):
        submitted.append(submitter.submit(referral(crime_reference=f"T/{n}")))
    _threads.pop(id(outcome)).join(timeout=120)
    assert outcome["exit_seconds"] < 15
    assert_each_reached_its_provider_once(hub, submitted, Service.VAL)
    assert_outboxes_drain(hub)
