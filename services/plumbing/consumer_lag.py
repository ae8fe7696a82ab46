"""Consumer lag, per consumer group, topic and partition, as the broker sees it: the end
offset less the group's committed offset. This is the figure KEDA scales on and the one
operations alert on; measuring it from the broker (not from the consumer's own position)
means a stuck consumer shows as growing lag instead of as silence."""

from __future__ import annotations

import contextlib
import weakref

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from faststream.kafka import KafkaBroker

from services.plumbing import loops
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.metrics import CONSUMER_LAG

UNANSWERED = (KafkaError, OSError, TimeoutError)
"""What a broker that does not answer the lag's questions raises."""

_GROUPS: weakref.WeakKeyDictionary[KafkaBroker, dict[str, set[str]]] = weakref.WeakKeyDictionary()


def watch(broker: KafkaBroker, group_id: str, topics: tuple[str, ...]) -> None:
    """Report the lag of ``group_id`` on ``topics`` while ``broker`` runs."""
    _GROUPS.setdefault(broker, {}).setdefault(group_id, set()).update(topics)


def groups(broker: KafkaBroker) -> dict[str, set[str]]:
    return _GROUPS.get(broker, {})


async def _connect(access: KafkaAccess) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
    admin = AIOKafkaAdminClient(client_id="hub-lag", **access.client_options())
    ends = AIOKafkaConsumer(client_id="hub-lag", **access.client_options())
    try:
        await admin.start()
        await ends.start()
    except BaseException:
        await _close(admin, ends)
        raise
    return admin, ends


async def _close(admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> None:
    await ends.stop()
    await admin.close()


async def measure(
    admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer, watched: dict[str, set[str]]
) -> dict[tuple[str, str, int], int]:
    """The lag of every watched (group, topic, partition) now."""
    partitions: list[TopicPartition] = []
    wanted = sorted({t for topics in watched.values() for t in topics})
    # A client that subscribes to nothing has metadata for nothing: name the topics (a
    # metadata request is made only when one is new to it).
    await ends._client.set_topics(wanted)
    for topic in wanted:
        for partition in sorted(ends.partitions_for_topic(topic) or ()):
            partitions.append(TopicPartition(topic, partition))
    end_offsets = await ends.end_offsets(partitions) if partitions else {}
    lag: dict[tuple[str, str, int], int] = {}
    for group, topics in watched.items():
        mine = [tp for tp in end_offsets if tp.topic in topics]
        if not mine:
            continue
        # Name the partitions: only those of the watched topics (the principal may describe
        # no others).
        committed = await admin.list_consumer_group_offsets(group, partitions=mine)
        for tp in mine:
            end = end_offsets[tp]
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else 0
            lag[(group, tp.topic, tp.partition)] = max(end - position, 0)
    return lag


async def sample_forever(broker: KafkaBroker, access: KafkaAccess, interval: float) -> None:
    """Refresh the lag gauge every ``interval`` seconds, over connections kept between
    samples; a broker that does not answer leaves the last figures in place, and is asked
    again next time over new connections."""
    clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    async def sample() -> None:
        nonlocal clients
        watched = groups(broker)
        if not watched:
            return
        try:
            clients = clients or await _connect(access)
            for (group, topic, partition), value in (await measure(*clients, watched)).items():
                CONSUMER_LAG.labels(group, topic, str(partition)).set(value)
        except UNANSWERED:
            if clients is not None:
                with contextlib.suppress(Exception):  # they are broken already
                    await _close(*clients)
                clients = None
            raise  # logged and counted by the loop

    try:
        await loops.every(interval, sample, name="consumer_lag", unreachable=UNANSWERED)
    finally:
        if clients is not None:
            await _close(*clients)
