"""A three-node Apache Kafka cluster in KRaft mode for the fault suite: each node a broker and
a controller (a quorum of three voters survives the loss of one), every topic replicated
three times with ``min.insync.replicas=2``, as production runs it; secured as the local
stack's single node is (SASL/SCRAM-SHA-512, the StandardAuthorizer, one super user)."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.localstack.kafka import KafkaBroker, Security, jars
from deploy.localstack.ports import free_port
from schemas.bus_access import ADMIN
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client

REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


@dataclass
class KafkaCluster:
    nodes: list[KafkaBroker]
    admin_password: str

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def admin_access(self) -> KafkaAccess:
        return KafkaAccess(self.bootstrap_servers).as_user(ADMIN, self.admin_password)

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def client_settings(self) -> dict[str, str]:
        """The ``KAFKA_*`` settings of a process that uses this cluster as its super user."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_USERNAME": ADMIN,
            "KAFKA_SASL_PASSWORD": self.admin_password,
        }


def _node_settings(node_id: int, voters: str) -> dict[str, str]:
    three, two = str(REPLICATION_FACTOR), str(MIN_INSYNC_REPLICAS)
    return {
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "default.replication.factor": three,
        "min.insync.replicas": two,
        "offsets.topic.replication.factor": three,
        "transaction.state.log.replication.factor": three,
        "transaction.state.log.min.isr": two,
        "share.coordinator.state.topic.replication.factor": three,
        "share.coordinator.state.topic.min.isr": two,
        # A killed node is fenced, and its partitions led elsewhere, within seconds (the
        # defaults, 9 s and 2 s, are for data centres with slower failure detection).
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
    }


@contextmanager
def kafka_cluster(workdir: Path, size: int = 3) -> Iterator[KafkaCluster]:
    """``size`` nodes on free ports, logs under ``workdir``, started together (none finishes
    starting before a quorum of controllers has elected a leader)."""
    admin_password = secrets.token_urlsafe(18)
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    controller_ports = [free_port() for _ in range(size)]
    voters = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(controller_ports, 1))
    nodes = []
    for node_id, controller_port in enumerate(controller_ports, 1):
        home = workdir / f"node-{node_id}"
        home.mkdir(parents=True)
        (home / "cluster.id").write_text(cluster_id)
        nodes.append(
            KafkaBroker(
                home,
                free_port(),
                home / "kafka.log",
                security=Security(admin_password),
                overrides=_node_settings(node_id, voters),
                controller_port=controller_port,
            )
        )
    jars(lambda _: None)  # fetched (the first time) once, before three nodes want them
    # The threads that start the nodes live as long as the nodes: a node dies with the
    # thread that spawned it (PR_SET_PDEATHSIG follows the parent thread, not the process).
    pool = ThreadPoolExecutor(max_workers=size)
    try:
        for started in [pool.submit(n.start, 180.0, lambda _: None) for n in nodes]:
            started.result()
        yield KafkaCluster(nodes, admin_password)
    finally:
        for node in nodes:
            node.stop()
        pool.shutdown()


async def partition_leaders(access: KafkaAccess, topic: str) -> dict[int, int]:
    """Each partition of ``topic`` -> the node id leading it."""
    async with admin_client(access) as admin:
        described = await admin.describe_topics([topic])
    return {int(p["partition"]): int(p["leader"]) for p in described[0]["partitions"]}


async def in_sync_replicas(access: KafkaAccess, topic: str) -> dict[int, list[int]]:
    """Each partition of ``topic`` -> the node ids of its in-sync replicas."""
    async with admin_client(access) as admin:
        described = await admin.describe_topics([topic])
    return {int(p["partition"]): sorted(p["isr"]) for p in described[0]["partitions"]}
