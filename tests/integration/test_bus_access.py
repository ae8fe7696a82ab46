"""Least privilege on the bus, tried on a real broker configured as the local stack's (SASL
SCRAM-SHA-512, the StandardAuthorizer, ACLs made by the topic job from
``schemas/bus_access.py``): every principal tries to write and read every topic and to join
every consumer group, and exactly the cells the table grants succeed; the others fail with an
authorization error. A client without credentials cannot connect at all, and the TLS
listener serves a certificate of the broker's own CA, and nothing to a client that does not
trust it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    GroupCoordinatorNotAvailableError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.group import JoinGroupRequest_v5

from deploy.container import topics as topic_job
from deploy.localstack import tls
from deploy.localstack.kafka import KafkaBroker, Security
from deploy.localstack.ports import free_port
from schemas.bus_access import PRINCIPALS, Principal, all_groups
from schemas.topics import all_topics
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client
from tests.support.waiting import eventually

GROUP_AUTHORIZATION_FAILED = 30
MEMBER_ID_REQUIRED = 79
COORDINATOR_LOAD_IN_PROGRESS = 14


@dataclass
class Bus:
    broker: KafkaBroker
    admin: KafkaAccess
    principals: dict[str, KafkaAccess]


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    """A secured broker of this module's own (its records are the probes'), provisioned by
    the topic job: topics, one SCRAM user per principal, the table's ACLs."""
    home = tmp_path_factory.mktemp("secured") / "kafka"
    admin_password = secrets.token_urlsafe(18)
    security = Security(admin_password, tls_port=free_port())
    broker = KafkaBroker(home, free_port(), home / "kafka.log", security=security)
    broker.start(say=lambda _: None)
    try:
        admin = KafkaAccess(broker.bootstrap_servers).as_user("admin", admin_password)
        passwords = {p.username: secrets.token_urlsafe(18) for p in PRINCIPALS}
        assert asyncio.run(topic_job.prepare(admin, 1, 60, passwords)) == 0
        yield Bus(
            broker,
            admin,
            {p.username: admin.as_user(p.username, passwords[p.username]) for p in PRINCIPALS},
        )
    finally:
        broker.stop()


async def _can_write(producer: AIOKafkaProducer, topic: str) -> bool:
    try:
        await producer.send_and_wait(topic, b"probe", key=b"probe", partition=0)
    except TopicAuthorizationFailedError:
        return False
    return True


async def _can_read(consumer: AIOKafkaConsumer, topic: str) -> bool:
    """Fetch from the topic's first partition. A topic the principal may not even describe
    is refused at the metadata request already (the client would retry that for ever)."""
    await consumer._client.set_topics([topic])
    if topic in consumer._client.cluster.unauthorized_topics:
        return False
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    try:
        await consumer.seek_to_beginning(partition)
        await consumer.getmany(partition, timeout_ms=300)
    except TopicAuthorizationFailedError:
        return False
    finally:
        consumer.unsubscribe()
    return True


async def _can_join(admin: AIOKafkaAdminClient, group: str) -> bool:
    """JoinGroup as a new member: the coordinator checks READ on the group first, then asks
    a new member for its id (so an allowed join leaves no member behind)."""

    async def answer() -> Any:
        """The coordinator's answer to a JoinGroup, or None while it is not ready (the
        offsets topic being made, or still loading on a busy machine)."""
        try:
            coordinator = await admin.find_coordinator(group)
        except GroupCoordinatorNotAvailableError:
            return None
        request = JoinGroupRequest_v5(group, 10_000, 10_000, "", None, "consumer", [("range", b"")])
        response = await admin._send_request_to_node(coordinator, _Fixed(request))
        return None if response.error_code == COORDINATOR_LOAD_IN_PROGRESS else response

    try:
        response = await eventually(answer, timeout=30, interval=0.2, what="a group coordinator")
    except GroupAuthorizationFailedError:
        return False
    assert response.error_code in (0, MEMBER_ID_REQUIRED, GROUP_AUTHORIZATION_FAILED), (
        group,
        response.error_code,
    )
    return bool(response.error_code != GROUP_AUTHORIZATION_FAILED)


class _Fixed:
    def __init__(self, struct: object) -> None:
        self.struct = struct

    def prepare(self, versions: dict[int, tuple[int, int]]) -> object:
        return self.struct


async def _cells(access: KafkaAccess) -> dict[tuple[str, str], bool]:
    cells: dict[tuple[str, str], bool] = {}
    options = access.client_options()
    async with AIOKafkaProducer(acks="all", request_timeout_ms=5_000, **options) as producer:
        for topic in all_topics():
            cells[("write", topic)] = await _can_write(producer, topic)
    async with AIOKafkaConsumer(enable_auto_commit=False, **options) as consumer:
        for topic in all_topics():
            cells[("read", topic)] = await _can_read(consumer, topic)
    async with admin_client(access, client_id="probe") as admin:
        for group in sorted(all_groups()):
            cells[("join", group)] = await _can_join(admin, group)
    return cells


def _granted(principal: Principal) -> dict[tuple[str, str], bool]:
    granted = {("write", t): t in principal.writes for t in all_topics()}
    granted |= {("read", t): t in principal.reads for t in all_topics()}
    granted |= {("join", g): g in principal.groups for g in sorted(all_groups())}
    return granted


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.name)
def test_each_principal_may_do_exactly_what_the_table_grants(
    bus: Bus, principal: Principal
) -> None:
    tried = asyncio.run(_cells(bus.principals[principal.username]))
    expected = _granted(principal)
    assert set(tried) == set(expected)
    wrong = {cell: allowed for cell, allowed in tried.items() if allowed != expected[cell]}
    assert wrong == {}, f"{principal.name}: cells not as the table says (True = allowed)"
    assert any(expected.values()) or principal.describes_topics  # every row grants something


def test_every_service_writes_only_what_it_must_and_no_queue_but_the_routers() -> None:
    """The table's promises in words (issue 21): only the router writes the queues; an
    adapter reads its own queue and no other; nobody but the dead-letter tool reads a
    dead-letter topic."""
    queues = {t for t in all_topics() if t.startswith("queue.") and t.endswith(".v1")}
    for principal in PRINCIPALS:
        writes_queues = principal.writes & queues
        assert not writes_queues or principal.name in ("router", "dead_letters"), principal.name
        if principal.name.startswith("provider_adapter."):
            service = principal.name.split(".")[1].lower()
            assert principal.reads & queues == {f"queue.{service}.v1"}
        reads_dead_letters = {t for t in principal.reads if t.endswith(".dlt")}
        assert not reads_dead_letters or principal.name == "dead_letters", principal.name


async def _connects(access: KafkaAccess) -> bool:
    admin = AIOKafkaAdminClient(request_timeout_ms=3_000, **access.client_options())
    try:
        await asyncio.wait_for(admin.start(), timeout=10)
        await admin.list_topics()
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return True


def test_a_client_without_credentials_or_with_a_wrong_password_cannot_connect(bus: Bus) -> None:
    assert asyncio.run(_connects(bus.admin))  # the probe itself works
    assert not asyncio.run(_connects(KafkaAccess(bus.broker.bootstrap_servers)))
    wrong = bus.admin.as_user("router", "not-the-password")
    assert not asyncio.run(_connects(wrong))


def test_the_tls_listener_serves_the_brokers_ca_and_authenticates(bus: Bus, tmp_path: Path) -> None:
    tls_servers = bus.broker.tls_bootstrap_servers
    assert tls_servers is not None
    router = bus.principals["router"]
    over_tls = KafkaAccess(
        tls_servers, "SASL_SSL", router.username, router.password, str(bus.broker.ca_file)
    )
    assert asyncio.run(_connects(over_tls))
    # Another CA's certificate is not enough: the broker's is checked, not just accepted.
    stranger = tmp_path / "other-ca.pem"
    stranger.write_bytes(tls.authority("someone else").certificate_pem)
    untrusted = KafkaAccess(
        tls_servers, "SASL_SSL", router.username, router.password, str(stranger)
    )
    assert not asyncio.run(_connects(untrusted))
