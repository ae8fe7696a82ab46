"""What the adapter's handlers share: the adapter itself, its errors, and the status event
every step reports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from schemas import events
from schemas.codes import RouteStatus, Service
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.plumbing.outbound import OutboundClient
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.adapters.intake_client import IntakeVault, Person
from services.provider_adapter.settings import AdapterSettings


class Gone(Exception):
    pass


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
        events.RouteStatusChanged(
            route_id=row["route_id"],
            referral_id=row["referral_id"],
            service=adapter.service,
            step=step,
            status=status,
            previous_status=RouteStatus(row["status"]),
            at=at,
            **extra,
        ),
        source=adapter.source,
        referral_id=row["referral_id"],
    )


_STEP_DETAIL = ("rejection_reason", "contact_attempt", "outcome", "reason")


async def record_step(
    conn: Connection,
    adapter: Adapter,
    row: asyncpg.Record,
    step: str,
    status: RouteStatus,
    at: datetime,
    *,
    person: Person | None = None,
    **extra: Any,
) -> outbox.OutgoingEvent:
    """A step on a work item, in the transaction that made it: its row in the work item's
    history, and its ``referral.status.v1`` event (naming the person by coded actor only),
    returned to be published (a consumer's handler returns it to its unit of work)."""
    actor = person.actor if person else None
    event = status_event(adapter, row, step, status, at, actor=actor, **extra)
    data = event.envelope["data"]
    detail = {k: data[k] for k in _STEP_DETAIL if data.get(k) is not None}
    await repo.add_step(conn, row["route_id"], step, status.value, at, actor, detail)
    return event
