"""Every Kafka topic the hub uses. Change a name here and nowhere else."""

from __future__ import annotations

from schemas.codes import Service

PARTITIONS = 6
"""Fixed from the start: adding partitions later would move referral ids between partitions."""

REFERRAL_RECEIVED = "referral.received.v1"
REFERRAL_REASSESS = "referral.reassess.v1"
REFERRAL_ROUTED = "referral.routed.v1"
REFERRAL_STATUS = "referral.status.v1"
REFERRAL_SLA = "referral.sla.v1"
REFERRAL_CONTACT = "referral.contact.v1"
"""A person's contact details or safe-contact instructions changed (intake -> every adapter):
field names and codes only, never the details."""

_QUEUES: dict[Service, str] = {service: f"queue.{service.value.lower()}.v1" for service in Service}


def queue_for(service: Service) -> str:
    """The work-item topic of one provider service, e.g. ``queue.idva.v1``."""
    return _QUEUES[service]


RETRY_TIERS = 3
"""Delay topics per main topic: a message whose handler failed is retried through
``<topic>.retry.1`` .. ``.retry.3`` (each with a longer delay), then dead-lettered."""


def dead_letter_for(topic: str) -> str:
    return f"{topic}.dlt"


def retry_topic(topic: str, tier: int) -> str:
    return f"{topic}.retry.{tier}"


def retry_topics_for(topic: str) -> list[str]:
    return [retry_topic(topic, tier) for tier in range(1, RETRY_TIERS + 1)]


def dead_letter_topics() -> list[str]:
    return [dead_letter_for(topic) for topic in main_topics()]


def main_topics() -> list[str]:
    return [
        REFERRAL_RECEIVED,
        REFERRAL_REASSESS,
        REFERRAL_ROUTED,
        REFERRAL_STATUS,
        REFERRAL_SLA,
        REFERRAL_CONTACT,
        *_QUEUES.values(),
    ]


MESSAGE_MAX_BYTES = 1_048_588
"""The largest record batch a broker takes: Kafka's ``message.max.bytes`` (its default, 1 MiB
and the 12 bytes of a batch's offset and length). The one place the hub sets it; derived from
it: the brokers' configuration (``deploy/localstack/kafka.py``, and
``deploy/kafka/server.properties`` made from it), every topic's ``max.message.bytes``
(``topic_config``), the producers' ``max_request_size`` (``PRODUCER_MAX_REQUEST_BYTES``) and
the largest event an outbox takes (``EVENT_MAX_BYTES``) and an HTTP request may cause
(``REQUEST_EVENT_MAX_BYTES``)."""
LOG_OVERHEAD_BYTES = 12
PRODUCER_MAX_REQUEST_BYTES = MESSAGE_MAX_BYTES - LOG_OVERHEAD_BYTES
"""The largest record a producer sends (aiokafka's ``max_request_size``, as Java's
``max.request.size`` defaults to): the record in its batch, without the log's 12 bytes."""
EVENT_MAX_BYTES = PRODUCER_MAX_REQUEST_BYTES - 16 * 1024
"""The largest event (its envelope as JSON, UTF-8) an outbox takes: the record's limit less
16 KiB for its key, its headers (trace context, content type, and a dead letter's ``error.*``)
and the record's own framing."""
REQUEST_EVENT_MAX_BYTES = EVENT_MAX_BYTES - 64 * 1024
"""The largest event an HTTP request may cause: ``EVENT_MAX_BYTES`` less 64 KiB for what
later services add to the facts they pass on (the router's work items carry the facts with
the route, its rule ids and clocks: a few KiB). A request over it is refused 413, naming
its largest fields, and nothing is stored."""


DAY_MS = 24 * 3600 * 1000
RETENTION_DAYS = 7
"""Events are kept a week: long enough to replay after a bad deploy."""
DEAD_LETTER_RETENTION_DAYS = 28
"""A dead letter waits for someone's decision (``make dead-letters``): four weeks."""


def topic_config(topic: str, replication_factor: int) -> dict[str, str]:
    """The configuration every cluster gives ``topic`` (the topic job applies it on creation;
    docker-compose.yml and deploy/k8s run that job). ``min.insync.replicas`` is 2 once there
    are three copies, so that an acknowledged event survives the loss of one broker;
    ``max.message.bytes`` is ``MESSAGE_MAX_BYTES``."""
    days = DEAD_LETTER_RETENTION_DAYS if topic.endswith(".dlt") else RETENTION_DAYS
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(days * DAY_MS),
        "min.insync.replicas": "2" if replication_factor >= 3 else "1",
        # The brokers' own limit, set on each topic too: a cluster configured otherwise
        # still holds the hub's topics to it.
        "max.message.bytes": str(MESSAGE_MAX_BYTES),
    }


def all_topics() -> list[str]:
    """The main topics, their retry topics and their dead-letter topics: what a new cluster
    must have."""
    main = main_topics()
    retries = [retry for topic in main for retry in retry_topics_for(topic)]
    return main + retries + [dead_letter_for(topic) for topic in main]
