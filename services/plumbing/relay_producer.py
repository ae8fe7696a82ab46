"""The outbox relay's own Kafka producer, replaced by a new one when it can no longer publish.

aiokafka's idempotent producer does not recover from some failures that a broker restart
can cause: a produce answered ``OUT_OF_ORDER_SEQUENCE_NUMBER`` or ``UNKNOWN_PRODUCER_ID``
leaves the partition's sequence out of step, and every later send to it is refused the same
way (aio-libs/aiokafka#1017, open; the Java client bumps its epoch instead); an unexpected
error in its sender task ends the task, after which every send raises that error. Either
way the relay would retry forever while intake goes on accepting referrals that never leave
its outbox. Only a new producer (a new producer id, its sequences from zero) publishes again.

A renewed producer may send again a record the old one wrote but whose acknowledgement was
lost: the consumers' inboxes drop the duplicate (``services.plumbing.inbox``), as they do
for every re-sent outbox row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)

from services.plumbing.metrics import RELAY_PRODUCER_RENEWALS

log = logging.getLogger(__name__)

BEYOND_RECOVERY: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
    ProducerClosed,
)
"""What a producer answers once it is out of step with the broker, or closed: it will
answer the same to every later send."""

STUCK_AFTER_SECONDS = 60.0
"""Publishing that has failed with a Kafka error for this long, whatever the error, renews
the producer: longer than a broker's restart on its log (20 to 37 s from the kill to the
first routed referral, measured in the fault suite on two busy cores), so that an outage
alone costs no renewal, and short against the Victims' Code's two working days by which a
referral must reach its service."""

STOP_TIMEOUT_SECONDS = 5.0
"""How long a producer given up on may take to stop; it may never answer."""


def renewal_needed(error: BaseException, failing_for: float) -> bool:
    """Whether the relay, whose publishing has failed with ``error`` for ``failing_for``
    seconds in a row, should take a new producer: at once for an error no send will get
    past (``BEYOND_RECOVERY``, or an ended sender task, which aiokafka reports as a plain
    ``KafkaError``), and after ``STUCK_AFTER_SECONDS`` for any other Kafka error or timeout
    (a stuck producer that says nothing useful). A database error never renews it."""
    if isinstance(error, BEYOND_RECOVERY):
        return True
    if type(error) is KafkaError:  # "Unexpected error during batch delivery": the sender died
        return True
    return isinstance(error, KafkaError | TimeoutError) and failing_for >= STUCK_AFTER_SECONDS


class RelayProducer:
    """A started ``AIOKafkaProducer`` made by ``make``, and replaced on ``failed`` when
    ``renewal_needed`` says so. Calling it returns the producer in hand; it raises
    ``ProducerClosed`` while none is started (the broker was away when the last one was
    made), which the relay treats as any other failed send."""

    def __init__(self, make: Callable[[], AIOKafkaProducer], name: str) -> None:
        self._make = make
        self._name = name
        self._producer: AIOKafkaProducer | None = None
        self._failing_since: float | None = None

    def __call__(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise ProducerClosed()
        return self._producer

    async def start(self) -> None:
        """Start a producer if none is in hand; raises what ``AIOKafkaProducer.start``
        raises when the broker cannot be reached (the relay tries again)."""
        if self._producer is not None:
            return
        producer = self._make()
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer

    def published(self) -> None:
        """The broker took what was sent: the failing spell, if any, is over."""
        self._failing_since = None

    async def failed(self, error: BaseException) -> None:
        """Publishing failed with ``error``: give up the producer in hand when
        ``renewal_needed``; the next ``start`` makes a new one. Only Kafka errors and
        timeouts count towards ``STUCK_AFTER_SECONDS``: a database outage followed by one
        broker error is not a producer stuck for the outage's length."""
        if not isinstance(error, KafkaError | TimeoutError):
            return  # the database's fault: no spell of the producer's failing starts
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if self._producer is None or not renewal_needed(error, now - self._failing_since):
            return
        log.error(
            "the relay's Kafka producer cannot publish any more; starting a new one",
            extra={"relay": self._name, "error": type(error).__name__},
        )
        RELAY_PRODUCER_RENEWALS.labels(self._name, type(error).__name__).inc()
        await self.stop()
        self._failing_since = now

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=STOP_TIMEOUT_SECONDS)


def producer_factory(options: dict[str, Any]) -> Callable[[], AIOKafkaProducer]:
    """Makes producers with ``options`` (aiokafka's keyword arguments)."""
    return lambda: AIOKafkaProducer(**options)
