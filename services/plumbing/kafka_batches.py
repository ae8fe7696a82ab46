"""One correction to FastStream: a batch consumer waits for records instead of polling.
Applied when ``kafka`` is imported."""

from __future__ import annotations

import asyncio
import time
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer
from faststream.kafka.subscriber.usecase import BatchSubscriber

EMPTY_AT_ONCE_PAUSE_SECONDS = 0.005
"""After a fetch that came back empty without waiting (a rebalance under way, a consumer
closing), a pause as short as FastStream's own, so that the loop never spins."""


def wait_for_records_in_batches() -> None:
    """FastStream (0.7.8) reads a batch as ``getmany(timeout_ms=batch_timeout_ms)`` and,
    when that returns nothing, **sleeps** ``batch_timeout_ms`` before asking again. A record
    that arrives during the sleep waits for it, so the timeout has to be tiny to keep latency
    low (it was 5 ms), and then every idle batch consumer wakes a hundred times a second to
    poll: CPU taken from the busy ones on a small machine (docs/performance.md). aiokafka's
    ``getmany`` already returns as soon as any record has arrived, so the sleep is dropped:
    the consumer waits on the fetch for up to ``batch_timeout_ms`` (which can now be long)
    and is woken by the record itself."""
    original = BatchSubscriber.get_msg
    if getattr(original, "waits_for_records", False):
        return

    async def get_msg(self: BatchSubscriber, consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        started = time.monotonic()
        messages = await consumer.getmany(
            timeout_ms=self.batch_timeout_ms, max_records=self.max_records
        )
        if messages:
            return tuple(chain(*messages.values()))
        if time.monotonic() - started < self.batch_timeout_ms / 2000:
            await asyncio.sleep(EMPTY_AT_ONCE_PAUSE_SECONDS)
        return ()

    get_msg.waits_for_records = True  # type: ignore[attr-defined]
    BatchSubscriber.get_msg = get_msg  # type: ignore[method-assign]
