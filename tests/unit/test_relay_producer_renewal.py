"""When an outbox relay gives up its Kafka producer for a new one: at once for what no later
send gets past, after half a minute for any other Kafka error, never for the database."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    UnknownProducerId,
)

from services.plumbing.relay_producer import STUCK_AFTER_SECONDS, renewal_needed


@pytest.mark.parametrize(
    ("error", "failing_for", "renew"),
    [
        (OutOfOrderSequenceNumber(), 0.0, True),
        (UnknownProducerId(), 0.0, True),
        (ProducerClosed(), 0.0, True),
        # aiokafka's sender task ended: "Unexpected error during batch delivery"
        (KafkaError("Unexpected error during batch delivery"), 0.0, True),
        # a broker restarting: give it the time a restart takes
        (KafkaConnectionError(), 5.0, False),
        (NotLeaderForPartitionError(), 5.0, False),
        (KafkaTimeoutError(), STUCK_AFTER_SECONDS - 1, False),
        (TimeoutError(), STUCK_AFTER_SECONDS - 1, False),
        # ... but not forever
        (KafkaConnectionError(), STUCK_AFTER_SECONDS, True),
        (TimeoutError(), STUCK_AFTER_SECONDS + 5, True),
        # the database is not the producer's fault
        (asyncpg.CannotConnectNowError(), STUCK_AFTER_SECONDS * 10, False),
        (ConnectionRefusedError(), STUCK_AFTER_SECONDS * 10, False),
    ],
)
def test_renewal_needed(error: BaseException, failing_for: float, renew: bool) -> None:
    assert renewal_needed(error, failing_for) is renew
