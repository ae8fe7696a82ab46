"""The hub on a three-node Apache Kafka cluster, as production runs (every topic replicated
three times, ``min.insync.replicas=2``, idempotent producers with ``acks=all``): one broker
SIGKILLed in the middle of a burst of referrals, and never started again. Its partitions are
led by the others within seconds; every referral reaches the right provider exactly once, and
nothing had to be re-driven: no acknowledged record was lost with the broker."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.codes import Service
from schemas.topics import REFERRAL_RECEIVED
from services.plumbing.topics_admin import ensure_topics
from tests.support.faults import (
    Submitter,
    assert_each_reached_its_provider_once,
    assert_outboxes_drain,
    in_background,
    redriven,
)
from tests.support.kafka_cluster import (
    MIN_INSYNC_REPLICAS,
    REPLICATION_FACTOR,
    KafkaCluster,
    in_sync_replicas,
    kafka_cluster,
    partition_leaders,
)
from tests.support.referrals import high_risk_da
from tests.support.stack import RunningStack, running_stack
from tests.support.waiting import eventually_sync

BURST = 30


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    with kafka_cluster(Path(tmp_path_factory.mktemp("kafka-cluster"))) as started:
        # What the topic job does in production (--replication-factor 3).
        asyncio.run(ensure_topics(started.admin_access(), REPLICATION_FACTOR))
        yield started


@pytest.fixture(scope="module")
def cluster_hub(
    cluster: KafkaCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    settings = {
        **cluster.client_settings(),
        # Longer than a failover takes: a re-drive would mean a record was lost.
        "RECONCILE_AFTER_SECONDS": "60",
    }
    with running_stack(Path(tmp_path_factory.mktemp("cluster-hub")), env_overrides=settings) as hub:
        yield hub


def test_a_broker_sigkilled_mid_burst(cluster: KafkaCluster, cluster_hub: RunningStack) -> None:
    access = cluster.admin_access()
    isr = asyncio.run(in_sync_replicas(access, REFERRAL_RECEIVED))
    assert all(len(replicas) == REPLICATION_FACTOR for replicas in isr.values())
    # The node leading the most partitions of the topic every referral is published to.
    leaders = Counter(asyncio.run(partition_leaders(access, REFERRAL_RECEIVED)).values())
    victim_id = leaders.most_common(1)[0][0]
    victim = cluster.node(victim_id)
    assert victim.process is not None
    victim_pid = victim.process.pid

    submitter = Submitter(cluster_hub.staff())
    submitted: list[str] = []

    def kill() -> None:
        eventually_sync(lambda: len(submitted) >= BURST // 3, timeout=120)
        os.kill(victim_pid, signal.SIGKILL)

    killer = in_background(kill)
    for n in range(BURST):
        submitted.append(submitter.submit(high_risk_da(crime_reference=f"C/{n}")))
    killer.result(timeout=120)

    assert set(submitter.answers) <= {202}
    assert_each_reached_its_provider_once(cluster_hub, submitted, Service.IDVA, timeout=180)
    assert_outboxes_drain(cluster_hub)
    assert redriven(cluster_hub, submitted) == {}
    # The cluster did lose the broker: two in-sync replicas left, enough for acks=all.
    survivors = {
        p: replicas
        for p, replicas in asyncio.run(in_sync_replicas(access, REFERRAL_RECEIVED)).items()
    }
    assert all(victim_id not in replicas for replicas in survivors.values()), survivors
    assert all(len(replicas) >= MIN_INSYNC_REPLICAS for replicas in survivors.values())
