"""What a consumer group looks like from the broker: its members and the partitions each was
given (DescribeGroups, the classic consumer protocol aiokafka speaks)."""

from __future__ import annotations

from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client

GROUP_MEMBERS, MEMBER_ASSIGNMENT = 5, 4
"""Field positions in DescribeGroups responses v0 to v3 (``aiokafka.protocol.admin``)."""


async def assignment(access: KafkaAccess, group: str, topic: str) -> dict[str, list[int]]:
    """Each member of ``group`` (its member id) -> the partitions of ``topic`` it holds now;
    empty while the group is rebalancing or has no members."""
    async with admin_client(access, "hub-tests-groups") as admin:
        responses = await admin.describe_consumer_groups([group])
    held: dict[str, list[int]] = {}
    for response in responses:
        for described in response.groups:
            for member in described[GROUP_MEMBERS]:
                raw = member[MEMBER_ASSIGNMENT]
                if not raw:
                    continue
                decoded = ConsumerProtocolMemberAssignment.decode(raw)
                held[str(member[0])] = sorted(
                    tp.partition for tp in decoded.partitions() if tp.topic == topic
                )
    return held


def split_between(held: dict[str, list[int]], members: int, partitions: int) -> bool:
    """``members`` members hold every one of ``partitions`` partitions, each partition one
    member's only, and no member is left without work."""
    every = [p for ps in held.values() for p in ps]
    return len(held) == members and sorted(every) == list(range(partitions)) and all(held.values())
