"""What the adapter's handlers share: the adapter itself, its errors, and the status event
every step reports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from schemas import events, topics
from schemas.codes import RouteStatus, Service
from services.plumbing import outbox
from services.plumbing.events import outgoing
from services.plumbing.outbound import OutboundClient
from services.provider_adapter.adapters.intake_client import IntakeVault
from services.provider_adapter.settings import AdapterSettings


class NotFound(Exception):
    pass


class Gone(Exception):
    pass


class Refused(Exception):
    """The request cannot apply as things stand; the sentence says why."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


@dataclass(frozen=True)
class Adapter:
    """What every handler needs: the service it acts for, its settings, pool and intake's
    vault, the vetted client that calls the provider's webhook, and a signal that wakes the
    webhook dispatcher when there is something to send."""

    service: Service
    pool: asyncpg.Pool
    vault: IntakeVault
    settings: AdapterSettings
    outbound: OutboundClient
    deliveries_waiting: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def source(self) -> str:
        return f"provider_adapter.{self.service.value}"

    @property
    def consumer(self) -> str:
        return f"provider_adapter.{self.service.value}.queue"


def status_event(
    adapter: Adapter,
    row: asyncpg.Record,
    step: str,
    status: RouteStatus,
    at: datetime,
    **extra: Any,
) -> outbox.OutgoingEvent:
    return outgoing(
        topic=topics.REFERRAL_STATUS,
        type_=events.ROUTE_STATUS,
        source=adapter.source,
        referral_id=row["referral_id"],
        data=events.RouteStatusChanged(
            route_id=row["route_id"],
            referral_id=row["referral_id"],
            service=adapter.service,
            step=step,
            status=status,
            previous_status=RouteStatus(row["status"]),
            at=at,
            **extra,
        ),
    )
