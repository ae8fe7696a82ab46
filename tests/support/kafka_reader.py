"""Reading topics back, to see exactly what a consumer (or an eavesdropper) would see."""

from __future__ import annotations

from dataclasses import dataclass

from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.kafka_reading import read_from_beginning


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


async def read_all(kafka: KafkaAccess, topics: list[str]) -> list[Record]:
    """Every record currently on ``topics``, from the beginning, without joining a group."""
    return [
        Record(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers))
        for m in await read_from_beginning(kafka, topics)
    ]
