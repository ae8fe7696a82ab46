"""One correction to aiokafka: its clients never ask a broker to create a topic. Applied
when ``kafka`` and ``topics_admin`` are imported."""

from __future__ import annotations

from aiokafka.protocol.metadata import MetadataRequest


def never_ask_brokers_to_create_topics() -> None:
    """aiokafka (0.14) asks the broker to create every topic it requests metadata for,
    whatever ``allow_auto_topic_creation`` says: its client builds each ``MetadataRequest``
    without the flag, which then defaults to true. Apache Kafka obliges whenever
    ``auto.create.topics.enable`` is true, which is its default: on such a cluster a consumer
    or relay that asked before the topic job ran would make the topic with the broker's
    default partition count, and events keyed to the missing partitions would move. The hub's
    brokers set it to false (docker-compose.yml, the local stack); this guards a cluster that
    does not. Topics are made only by ``topics_admin``; a client asking about a missing topic
    waits for it."""
    original = MetadataRequest.__init__
    if getattr(original, "never_creates", False):
        return

    def without_creation(
        self: MetadataRequest,
        topics: list[str] | None = None,
        allow_auto_topic_creation: bool | None = None,
    ) -> None:
        original(self, topics, bool(allow_auto_topic_creation))

    without_creation.never_creates = True  # type: ignore[attr-defined]
    MetadataRequest.__init__ = without_creation
