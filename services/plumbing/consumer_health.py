"""A consumer that can no longer take part in its group stops the process, so that it is
started again.

aiokafka runs each consumer's group membership (finding the coordinator, joining,
committing) in one task. Should that task end on an error it did not expect, it is never
started again: every poll raises the error (FastStream logs "Kafka error occurred" and
polls again five seconds later, for ever) while the consumer's heartbeats may go on, so
the group never gives its partitions to another member. Their events are then read by
nobody: in the fault suite, six referrals were never routed after a broker restart
(aio-libs/aiokafka#1038, whose cause ``kafka_connections`` corrects; others may remain).
Nothing short of a new consumer recovers, and a new process is the one sure way to get
one: the process stops as on SIGTERM (the other consumers finish the message in hand and
commit), leaves its groups, and the local supervisor or the orchestrator starts it again.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from faststream.kafka import KafkaBroker

from services.plumbing import loops

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 5.0


def ended_memberships(broker: KafkaBroker) -> dict[str, str]:
    """The consumers of ``broker`` whose group coordination has ended: group id → the name
    of the error it ended on. A consumer that is stopping or not started is not counted."""
    ended: dict[str, str] = {}
    for subscriber in broker.subscribers:
        consumer: Any = getattr(subscriber, "consumer", None)
        task = getattr(getattr(consumer, "_coordinator", None), "_coordination_task", None)
        if task is None or not task.done() or task.cancelled() or consumer._closed:
            continue
        error = task.exception()
        if error is not None:
            ended[str(consumer._group_id)] = type(error.__cause__ or error).__name__
    return ended


def stop_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


async def watch_forever(
    broker: KafkaBroker,
    stop: Callable[[], None] = stop_this_process,
    every: float = CHECK_EVERY_SECONDS,
) -> None:
    """Every ``every`` seconds, look for consumers whose membership has ended; on finding
    one, say which in one line and ``stop`` the process (once)."""

    async def check() -> loops.Next | None:
        ended = ended_memberships(broker)
        if not ended:
            return None
        log.critical(
            "a Kafka consumer can no longer take part in its group; "
            "stopping the process so that it is started again",
            extra={"groups": sorted(ended), "errors": sorted(set(ended.values()))},
        )
        stop()
        return loops.Next.STOP

    await loops.every(every, check, name="consumer_health")
