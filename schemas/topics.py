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
        *_QUEUES.values(),
    ]


def all_topics() -> list[str]:
    """The main topics, their retry topics and their dead-letter topics: what a new cluster
    must have."""
    main = main_topics()
    retries = [retry for topic in main for retry in retry_topics_for(topic)]
    return main + retries + [dead_letter_for(topic) for topic in main]
