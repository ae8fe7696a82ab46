"""Writing records as any Kafka client could, byte for byte: header names and values, keys
and values that are not UTF-8, headers without a value. aiokafka's producer takes header
names as text only; other clients (librdkafka, Go's) take bytes, so the tests write such
names through aiokafka's own Python record builder, told to keep the bytes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.producer import message_accumulator, producer
from aiokafka.record import default_records

from services.plumbing.kafka_access import KafkaAccess


class _NameBytes(str):
    """A header name that encodes to exactly the bytes it was made from."""

    raw: bytes

    def __new__(cls, raw: bytes) -> _NameBytes:
        made = super().__new__(cls, raw.decode("utf-8", "surrogateescape"))
        made.raw = raw
        return made

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


@dataclass(frozen=True)
class RawRecord:
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[bytes, bytes | None]] = ()


@contextlib.contextmanager
def _python_record_builder() -> Iterator[None]:
    """aiokafka's C builder refuses a header name that is not a plain ``str``; its Python
    builder encodes each name by calling its ``encode``."""
    python = default_records._DefaultRecordBatchBuilderPy
    saved = (message_accumulator.DefaultRecordBatchBuilder, producer.DefaultRecordBatchBuilder)
    message_accumulator.DefaultRecordBatchBuilder = python
    producer.DefaultRecordBatchBuilder = python
    try:
        yield
    finally:
        message_accumulator.DefaultRecordBatchBuilder, producer.DefaultRecordBatchBuilder = saved


async def send_raw(kafka: KafkaAccess, topic: str, records: Sequence[RawRecord]) -> None:
    """Write ``records`` to ``topic`` in order, each to the partition its key picks (or the
    first, when it has none), and wait until the broker has them all."""
    client = AIOKafkaProducer(acks="all", linger_ms=20, **kafka.client_options())
    await client.start()
    try:
        with _python_record_builder():
            sent = [
                await client.send(
                    topic,
                    record.value,
                    key=record.key,
                    partition=None if record.key is not None else 0,
                    headers=[(_NameBytes(name), value) for name, value in record.headers],
                )
                for record in records
            ]
            for future in sent:
                await future
    finally:
        await client.stop()
