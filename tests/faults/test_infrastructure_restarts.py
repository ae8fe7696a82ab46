"""The broker and the database killed under load, on the fault suite's scaled-out hub, and
started again by the supervisor: the broker on its log (topics, records and committed offsets
kept, so nothing needs re-driving), or on an empty log directory (reconciliation re-drives what
only the lost log held); the database on its data, while intake answers 503 with Retry-After,
never a 500, and recovers without a restart. Every referral reaches its provider exactly
once."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest

from schemas.codes import Service
from schemas.topics import REFERRAL_RECEIVED
from tests.faults.conftest import scaled_stack
from tests.support.faults import (
    Submitter,
    assert_each_reached_its_provider_once,
    assert_outboxes_drain,
    in_background,
    redriven,
)
from tests.support.referrals import high_risk_da, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

BURST = 30
BACKLOG = 8


@pytest.fixture(scope="module")
def restart_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A scaled hub of these tests' own: after its broker's log is deleted, the scale-out
    tests' checks of who holds which partition would start from a group still re-forming."""
    with scaled_stack(tmp_path_factory) as stack:
        yield stack


def _kill_infrastructure_midway(
    hub: RunningStack, which: str, submitted: list[str]
) -> Future[None]:
    def kill() -> None:
        eventually_sync(lambda: len(submitted) >= BURST // 3, timeout=120)
        pid: int = hub.info()["infrastructure"][which]
        os.kill(pid, signal.SIGKILL)
        _restarted(hub, which, pid)

    return in_background(kill)


def _burst_across_a_kill(
    hub: RunningStack, which: str, body: Callable[[int], dict[str, Any]]
) -> tuple[Submitter, list[str]]:
    """``BURST`` referrals (``body(n)`` the n-th) submitted while ``which`` is killed a third
    of the way through and started again by the supervisor; the submitter (with every
    answer) and the referral ids it was given."""
    submitter = Submitter(hub.staff())
    submitted: list[str] = []
    killer = _kill_infrastructure_midway(hub, which, submitted)
    for n in range(BURST):
        submitted.append(submitter.submit(body(n)))
    killer.result(timeout=120)  # killed, and started again
    return submitter, submitted


def _restarted(hub: RunningStack, which: str, pid: int) -> None:
    eventually_sync(
        lambda: hub.info()["infrastructure"][which] != pid,
        timeout=90,
        what=f"the supervisor to restart {which}",
    )


def test_broker_killed_and_restarted_on_its_log(restart_hub: RunningStack) -> None:
    submitter, submitted = _burst_across_a_kill(
        restart_hub, "kafka", lambda n: high_risk_da(crime_reference=f"B/{n}")
    )
    assert set(submitter.answers) <= {202}  # the outbox held the events while the broker was away
    assert_each_reached_its_provider_once(restart_hub, submitted, Service.IDVA, timeout=180)
    assert_outboxes_drain(restart_hub)
    # The log kept every record and offset: every hop delivered on its own.
    assert redriven(restart_hub, submitted) == {}


@contextmanager
def _routers_frozen(hub: RunningStack) -> Iterator[None]:
    """Every router process stopped (SIGSTOP) until the block ends: what intake publishes
    meanwhile waits on the broker, unread."""
    info = hub.info()
    pids = [info["processes"][name] for name in info["replicas"]["router"]]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


async def _published(database_url: str, referral_ids: list[str]) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM intake.outbox WHERE topic = $1
                   AND key = ANY($2::text[]) AND published_at IS NOT NULL""",
                REFERRAL_RECEIVED,
                referral_ids,
            )
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("log", ["kept", "deleted"])
def test_broker_restarted_with_a_backlog_only_it_held(restart_hub: RunningStack, log: str) -> None:
    """Referrals published while no router reads, so that the broker alone holds them; then
    the broker is killed, and started again on its log or on an empty log directory."""
    submitter = Submitter(restart_hub.staff())
    database_url = restart_hub.info()["database_url"]
    with _routers_frozen(restart_hub):
        backlog = [
            submitter.submit(high_risk_da(crime_reference=f"L/{log}/{n}")) for n in range(BACKLOG)
        ]
        eventually_sync(
            lambda: asyncio.run(_published(database_url, backlog)) == BACKLOG,
            timeout=60,
            what="intake to publish the backlog",
        )
        pid: int = restart_hub.info()["infrastructure"]["kafka"]
        data = restart_hub.state_dir / "kafka" / "data"
        lost = data.with_name("data.lost")
        if log == "deleted":
            data.rename(lost)  # at once, from under the running broker, then deleted
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(lost, ignore_errors=True)
    _restarted(restart_hub, "kafka", pid)
    after = [submitter.submit(high_risk_da(crime_reference=f"A/{log}/{n}")) for n in range(4)]
    assert_each_reached_its_provider_once(restart_hub, backlog + after, Service.IDVA, timeout=240)
    assert_outboxes_drain(restart_hub)
    redrives = redriven(restart_hub, backlog)
    if log == "kept":
        assert redrives == {}, "re-driven though the broker kept them"
    else:
        # Every one reached IDVA once (above); what the broker forgot was re-driven as
        # unrouted, and nothing else was. Not always all eight: runs have seen 8, 7 and 6,
        # the others routed within the minute before reconciliation's pass without a
        # re-drive, by a path not yet understood (none routed while the routers were frozen
        # could be seen in the logs). The guarantee that matters is asserted above.
        assert set(redrives) == {"unrouted"}, redrives
        assert 1 <= redrives["unrouted"] <= BACKLOG, redrives


def test_database_restart(restart_hub: RunningStack) -> None:
    submitter, submitted = _burst_across_a_kill(
        restart_hub, "postgres", lambda n: referral(crime_reference=f"P/{n}")
    )
    assert set(submitter.answers) <= {0, 202, 503}, dict(submitter.answers)
    assert_each_reached_its_provider_once(restart_hub, submitted, Service.VAL, timeout=180)
    assert_outboxes_drain(restart_hub)
