"""Turning event models into outbox rows."""

from __future__ import annotations

import uuid

from schemas.envelope import EventData, envelope
from services.plumbing.outbox import OutgoingEvent
from services.plumbing.telemetry import current_trace_headers


def outgoing(
    *, topic: str, type_: str, source: str, referral_id: uuid.UUID, data: EventData
) -> OutgoingEvent:
    """An event about one referral, keyed by its id so that all its events stay in order."""
    return OutgoingEvent(
        topic=topic,
        key=referral_id,
        envelope=envelope(source=source, type_=type_, subject=referral_id, data=data),
        headers=current_trace_headers(),
    )
