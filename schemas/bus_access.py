"""Who may do what on the bus: the one table of Kafka principals and their grants.

Each service process authenticates with its own SCRAM-SHA-512 principal and may read, write
and join only what it does (least privilege, issue 21): the IDVA adapter reads
``queue.idva.v1`` and nothing else's queue; only the router writes the queues. A consumer of
a topic also reads and writes that topic's retry topics and writes its dead-letter topic
(``services/plumbing/kafka.py``), under its group and the group's ``.retry`` twin.

This table drives everything else: the topic job creates the ACLs from it
(``services/plumbing/bus_admin.py``), the local stack creates its SCRAM users and ACLs from
it at start-up, and the tests check docker-compose.yml and deploy/k8s against it (each
service's ``KAFKA_SASL_USERNAME`` is its principal's) and try every cell of it on a real
broker (``tests/integration/test_bus_access.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.codes import Service
from schemas.topics import (
    REFERRAL_CONTACT,
    REFERRAL_REASSESS,
    REFERRAL_RECEIVED,
    REFERRAL_ROUTED,
    REFERRAL_SLA,
    REFERRAL_STATUS,
    dead_letter_for,
    main_topics,
    queue_for,
    retry_topics_for,
)

ADMIN = "admin"
"""The super user: the brokers' own principal and the topic job's (it creates topics, SCRAM
users and the ACLs below). No service runs as it."""


class Operation(StrEnum):
    """Kafka's ACL operations the hub grants (``AclOperation``)."""

    READ = "READ"
    WRITE = "WRITE"
    DESCRIBE = "DESCRIBE"


class Resource(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding: ``principal`` may do ``operation`` on the resource of that exact
    (LITERAL) name, from any host."""

    principal: str
    resource: Resource
    name: str
    operation: Operation


@dataclass(frozen=True)
class Consumes:
    """A topic consumed under a consumer group, as ``plumbing.kafka.subscribe`` does it."""

    topic: str
    group: str

    @property
    def groups(self) -> tuple[str, str]:
        return (self.group, f"{self.group}.retry")

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.topic, *retry_topics_for(self.topic))

    @property
    def writes(self) -> tuple[str, ...]:
        return (*retry_topics_for(self.topic), dead_letter_for(self.topic))


@dataclass(frozen=True)
class Principal:
    """A process's identity on the bus and what it may do there.

    ``name`` is the key of ``.dev/stack.json``'s ``processes`` (or a tool's); ``username``
    its SCRAM user, the same as its compose service and Kubernetes Deployment (or Job)."""

    name: str
    username: str
    consumes: tuple[Consumes, ...] = ()
    produces: tuple[str, ...] = ()
    reads_without_group: tuple[str, ...] = ()
    """Topics read by assigning partitions, never as a group (the dead-letter tool)."""
    describes_topics: tuple[str, ...] = ()
    describes_groups: tuple[str, ...] = ()
    """For a lag reader: offsets and committed offsets, never the records."""
    service_process: bool = True
    """One of the hub's own processes (``processes`` in ``stack.json``), not a tool."""

    @property
    def reads(self) -> frozenset[str]:
        return frozenset(
            [t for c in self.consumes for t in c.reads] + list(self.reads_without_group)
        )

    @property
    def writes(self) -> frozenset[str]:
        return frozenset([t for c in self.consumes for t in c.writes] + list(self.produces))

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(g for c in self.consumes for g in c.groups)

    def acls(self) -> set[Acl]:
        user = f"User:{self.username}"
        found = {Acl(user, Resource.TOPIC, t, Operation.READ) for t in self.reads}
        found |= {Acl(user, Resource.TOPIC, t, Operation.WRITE) for t in self.writes}
        found |= {Acl(user, Resource.GROUP, g, Operation.READ) for g in self.groups}
        found |= {Acl(user, Resource.TOPIC, t, Operation.DESCRIBE) for t in self.describes_topics}
        found |= {Acl(user, Resource.GROUP, g, Operation.DESCRIBE) for g in self.describes_groups}
        return found


def adapter_name(service: Service) -> str:
    return f"provider_adapter.{service.value}"


def adapter_queue_group(service: Service) -> str:
    """The IDVA adapter's group on its queue, ``provider_adapter.IDVA.queue``."""
    return f"{adapter_name(service)}.queue"


def _adapter(service: Service) -> Principal:
    return Principal(
        adapter_name(service),
        f"adapter-{service.value.lower()}",
        consumes=(
            Consumes(queue_for(service), adapter_queue_group(service)),
            # Escalations of every service's routes: each adapter keeps its own.
            Consumes(REFERRAL_SLA, f"{adapter_queue_group(service)}.sla"),
            # Changed contact details of every referral: each adapter tells its own provider.
            Consumes(REFERRAL_CONTACT, f"{adapter_queue_group(service)}.contact"),
        ),
        produces=(REFERRAL_STATUS,),
    )


ROUTER_GROUPS = ("router.received", "router.reassess")

PRINCIPALS: tuple[Principal, ...] = (
    Principal(
        "referral_intake",
        "referral-intake",
        consumes=(
            Consumes(REFERRAL_ROUTED, "referral_intake.routed"),
            Consumes(REFERRAL_STATUS, "referral_intake.route_status"),
        ),
        produces=(REFERRAL_RECEIVED, REFERRAL_REASSESS, REFERRAL_SLA, REFERRAL_CONTACT),
    ),
    Principal(
        "router",
        "router",
        consumes=(
            Consumes(REFERRAL_RECEIVED, ROUTER_GROUPS[0]),
            Consumes(REFERRAL_REASSESS, ROUTER_GROUPS[1]),
        ),
        produces=(REFERRAL_ROUTED, *(queue_for(s) for s in Service)),
    ),
    *(_adapter(service) for service in Service),
    Principal(
        "dead_letters",
        "dead-letters",
        # Reads every dead letter; a replay publishes the original bytes to the original topic.
        reads_without_group=tuple(dead_letter_for(t) for t in main_topics()),
        produces=tuple(main_topics()),
        service_process=False,
    ),
    Principal(
        "keda",
        "keda",
        # KEDA's Kafka scaler (deploy/k8s/keda): end offsets and committed offsets only.
        describes_topics=(
            REFERRAL_RECEIVED,
            REFERRAL_REASSESS,
            REFERRAL_SLA,
            REFERRAL_CONTACT,
            *(queue_for(s) for s in Service),
        ),
        describes_groups=(
            *ROUTER_GROUPS,
            *(adapter_queue_group(s) for s in Service),
            *(f"{adapter_queue_group(s)}.sla" for s in Service),
            *(f"{adapter_queue_group(s)}.contact" for s in Service),
        ),
        service_process=False,
    ),
)
"""Every principal but ``ADMIN``. The services' consumer-lag samplers run inside each
service as its own principal: reading a topic and a group includes describing them."""

BY_NAME = {p.name: p for p in PRINCIPALS}
BY_USERNAME = {p.username: p for p in PRINCIPALS}


def service_principals() -> list[Principal]:
    return [p for p in PRINCIPALS if p.service_process]


def all_acls() -> set[Acl]:
    return {acl for principal in PRINCIPALS for acl in principal.acls()}


def all_groups() -> set[str]:
    return {g for p in PRINCIPALS for g in p.groups} | {
        g for p in PRINCIPALS for g in p.describes_groups
    }
