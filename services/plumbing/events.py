"""Turning event models into outbox rows, and consumers' handlers into ``subscribe``'s table."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from schemas.envelope import envelope
from schemas.events import Event
from services.plumbing.outbox import OutgoingEvent
from services.plumbing.telemetry import current_trace_headers

if TYPE_CHECKING:  # handlers import this module; only consumers need the broker's code
    from services.plumbing.kafka import On
    from services.plumbing.unit_of_work import Apply


def outgoing(event: Event, *, source: str, referral_id: uuid.UUID) -> OutgoingEvent:
    """``event`` about one referral, on its own topic under its own type, keyed by the
    referral's id so that all its events stay in order."""
    return OutgoingEvent(
        topic=event.topic,
        key=referral_id,
        envelope=envelope(source=source, type_=event.TYPE, subject=referral_id, data=event),
        headers=current_trace_headers(),
    )


def by_event(
    handlers: Mapping[type[Event], On[Any] | Apply[Any]],
) -> dict[str, On[Any] | Apply[Any]]:
    """``subscribe``'s ``handlers``, given by event class: each is keyed by its class's
    ``TYPE``. Raises ``TypeError`` when an ``On`` validates another class's data (the
    class's own, or one it extends, is right), so that a handler cannot be filed under the
    wrong type."""
    table: dict[str, On[Any] | Apply[Any]] = {}
    for kind, on in handlers.items():
        data = on.model.model_fields["data"].annotation
        if not (isinstance(data, type) and issubclass(kind, data)):
            raise TypeError(f"{kind.__name__} handled as {data}")
        table[kind.TYPE] = on
    return table
