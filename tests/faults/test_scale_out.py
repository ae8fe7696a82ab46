"""Scale-out, as ``make run ROUTERS=3 ADAPTER_REPLICAS=2`` runs it: each service's processes
share its consumer groups, Kafka splits the partitions between them, and a replica SIGKILLed
in the middle of a burst (its partitions moving to the others in a rebalance, then back when
the supervisor has started it again) loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest

from schemas.bus_access import BY_NAME
from schemas.codes import Service
from schemas.topics import PARTITIONS
from tests.faults.conftest import ADAPTER_REPLICAS, ROUTERS
from tests.support.consumer_groups import assignment, split_between
from tests.support.faults import (
    Submitter,
    assert_each_reached_its_provider_once,
    assert_outboxes_drain,
    crime_reference,
    in_background,
)
from tests.support.referrals import referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

BURST = 40


def _groups(service: str) -> list[tuple[str, str]]:
    """(group, topic) of every consumer group the service's processes join (its main
    topics; the retry topics' groups are alike)."""
    return [(c.group, c.topic) for c in BY_NAME[service].consumes]


def _wait_until_split(hub: RunningStack, service: str, members: int) -> None:
    access = hub.kafka_admin()

    def split(group: str, topic: str) -> bool:
        return split_between(asyncio.run(assignment(access, group, topic)), members, PARTITIONS)

    for group, topic in _groups(service):
        eventually_sync(
            lambda: split(group, topic),  # noqa: B023 - called before the loop moves on
            timeout=90,
            interval=0.5,
            what=f"{members} members of {group} to split the {PARTITIONS} partitions of {topic}",
        )


def test_stack_json_names_every_replica(scaled_hub: RunningStack) -> None:
    info = scaled_hub.info()
    assert info["replicas"]["router"] == ["router", "router#2", "router#3"]
    for service in Service:
        name = f"provider_adapter.{service.value}"
        assert info["replicas"][name] == [name, f"{name}#2"]
    assert info["replicas"]["referral_intake"] == ["referral_intake"]
    names = [n for names in info["replicas"].values() for n in names]
    assert sorted(names) == sorted(info["processes"])
    assert len(set(info["processes"].values())) == len(names)  # a process each
    # Each replica answers on its own port, as its own principal's service.
    with httpx.Client(timeout=5) as client:
        for name in names:
            assert client.get(info["process_urls"][name] + "/readyz").status_code == 200
    principals = info["kafka_security"]["principals"]
    assert principals["router#3"]["username"] == principals["router"]["username"]
    assert (
        info["database_roles"]["provider_adapter.VAL#2"]
        == (info["database_roles"]["provider_adapter.VAL"])
    )
    # The service's address is its first replica's.
    assert info["router_url"] == info["process_urls"]["router"]
    assert info["provider_api_urls"]["VAL"] == info["process_urls"]["provider_adapter.VAL"]


def test_consumer_groups_split_the_partitions(scaled_hub: RunningStack) -> None:
    _wait_until_split(scaled_hub, "router", ROUTERS)
    for service in Service:
        _wait_until_split(scaled_hub, f"provider_adapter.{service.value}", ADAPTER_REPLICAS)


@pytest.mark.parametrize("process", ["router#2", "provider_adapter.VAL#2"])
def test_a_replica_sigkilled_mid_burst_loses_and_duplicates_nothing(
    scaled_hub: RunningStack, process: str
) -> None:
    service, _, _ = process.partition("#")
    replicas = len(scaled_hub.info()["replicas"][service])
    _wait_until_split(scaled_hub, service, replicas)
    submitter = Submitter(scaled_hub.staff())
    submitted: list[str] = []

    def kill() -> None:
        eventually_sync(lambda: len(submitted) >= BURST // 3, timeout=120)
        pid: int = scaled_hub.info()["processes"][process]
        os.kill(pid, signal.SIGKILL)
        eventually_sync(
            lambda: scaled_hub.info()["processes"][process] != pid,
            timeout=60,
            what=f"the supervisor to restart {process}",
        )

    killer = in_background(kill)
    for n in range(BURST):
        submitted.append(
            submitter.submit(referral(crime_reference=crime_reference("S", process, n)))
        )
    killer.result(timeout=120)
    assert_each_reached_its_provider_once(scaled_hub, submitted, Service.VAL, timeout=180)
    assert_outboxes_drain(scaled_hub)
    # Back to full strength: the restarted replica has its share again.
    _wait_until_split(scaled_hub, service, replicas)
