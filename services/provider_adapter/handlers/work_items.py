"""Work items: taking them off the bus, and recording what the provider reports about
them. Each state change and its ``referral.status.v1`` event are written in one transaction,
with the webhook delivery that tells the provider, if it has one."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from schemas import contact_standards, data_sharing, events, outcome_measures
from schemas.codes import (
    ContactChannel,
    ContactResult,
    OutcomeStatus,
    RejectionReason,
    RouteStatus,
)
from schemas.envelope import CloudEvent
from schemas.refusals import Invalid, NotFound, Refused
from services.plumbing import outbox, telemetry
from services.plumbing.cursors import Cursors, InvalidCursor
from services.plumbing.db import Connection
from services.plumbing.kafka import Delivered
from services.plumbing.outbox import OutgoingEvent
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.adapters.intake_client import Person
from services.provider_adapter.domain import contact_change, contact_standard
from services.provider_adapter.domain import work_item as lifecycle
from services.provider_adapter.handlers import webhooks
from services.provider_adapter.handlers.common import Adapter, Gone, record_step

log = logging.getLogger(__name__)

CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
ERASED = "personal_data_erased"
"""The reason a work item ends when intake erases its referral's personal data."""


CONTACT_VERSION = "contact_version"
"""Which version of the details intake's vault answered with (kept here, never shown)."""


class ContactDetailsChanged(Refused):
    """A contact attempt after a change of the details its provider has not read yet."""

    title = "Contact details changed"


class AttemptBeforeRequest(Invalid):
    """A contact attempt dated before its route reached this service: it cannot have been
    made for this referral, and counting it would meet the contact standard (Victims' Code
    right 4's clocks) on paper only."""

    says = "is before this referral was requested from your service"
    field = "at"


ATTEMPT_CLOCK_SLACK = timedelta(minutes=5)
"""How far a contact attempt's time may stand before its route's request (clocks differ)."""


class InvalidMeasures(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("invalid outcome measures")
        self.errors = errors


def _allowed_facts(adapter: Adapter) -> tuple[str, ...]:
    configured = adapter.settings.allowed_facts
    return (
        tuple(configured)
        if configured is not None
        else data_sharing.work_item_facts(adapter.service)
    )


async def take_work_item(
    adapter: Adapter, conn: Connection, event: CloudEvent[events.WorkItem]
) -> list[OutgoingEvent]:
    """Queue a work item the router dispatched here, report it queued, and tell the
    provider's webhook, if it has one."""
    return await _take(conn, adapter, event)


async def take_work_items(
    adapter: Adapter, conn: Connection, batch: list[Delivered[CloudEvent[events.WorkItem]]]
) -> dict[uuid.UUID, list[OutgoingEvent]]:
    """``take_work_item`` for several work items, in order, in one transaction (one commit
    and one offset commit for all of them): with one commit per item, the queue of a busy
    provider was bound by the wait for each commit to reach the disk. If any of them fails,
    the consumer handles each on its own (``services.plumbing.kafka``)."""
    produced = {}
    for delivered in batch:
        with delivered.traced():
            produced[delivered.event.id] = await _take(conn, adapter, delivered.event)
    return produced


def _agreed(adapter: Adapter, item: events.WorkItem) -> events.WorkItem:
    """``item`` with only the facts and flags this provider's agreement lets it hold."""
    allowed = _allowed_facts(adapter)
    extra = sorted(set(item.facts) - set(allowed))
    if extra:
        # Defence in depth: the router sends only what the agreement allows; whatever
        # slipped through is never stored or shown.
        log.warning(
            "work item carried facts outside this provider's agreement; dropped",
            extra={"fields": extra},
        )
        item = item.model_copy(
            update={"facts": {k: v for k, v in item.facts.items() if k in allowed}}
        )
    allowed_flags = data_sharing.work_item_flags(adapter.service)
    extra_flags = sorted(set(item.flags) - set(allowed_flags))
    if extra_flags:
        log.warning(
            "work item carried flags outside this provider's agreement; dropped",
            extra={"flags": extra_flags},
        )
        item = item.model_copy(update={"flags": [f for f in item.flags if f in allowed_flags]})
    return item


async def _take(
    conn: Connection, adapter: Adapter, event: CloudEvent[events.WorkItem]
) -> list[OutgoingEvent]:
    if event.data.service is not adapter.service:
        raise ValueError(f"work item for {event.data.service} on the {adapter.service} queue")
    item = _agreed(adapter, event.data)
    if not await repo.insert_work_item(conn, item, telemetry.current_trace_headers()):
        return []
    row = await repo.lock_route(conn, item.route_id)
    assert row is not None
    now = datetime.now(UTC)
    if await repo.is_erased(conn, item.referral_id):
        # The erasure reached this adapter before the work item did: it never enters the
        # queue, and intake hears that the route ended, as for an erasure that came after.
        await repo.mark_erased(conn, item.referral_id, now)
        await repo.set_status(conn, item.route_id, RouteStatus.CANCELLED.value)
        return [
            await record_step(
                conn, adapter, row, "cancelled", RouteStatus.CANCELLED, now, reason=ERASED
            )
        ]
    queued = await record_step(conn, adapter, row, "queued", RouteStatus.REQUESTED, now)
    await webhooks.enqueue(conn, adapter, item.route_id, "created", queue_item(row))
    return [queued]


async def _apply_hub_step(
    conn: Connection,
    adapter: Adapter,
    route_id: uuid.UUID,
    step: str,
    decide: Callable[[RouteStatus], RouteStatus],
    reason: str,
    webhook_kind: str,
) -> list[OutgoingEvent]:
    """A step the hub causes (cancellation, escalation): change the work item if the domain
    says so, report it back, and push it to the provider's webhook."""
    row = await repo.lock_route(conn, route_id)
    if row is None:
        return []  # not this adapter's route
    current = RouteStatus(row["status"])
    after = decide(current)
    if after is current:
        return []
    await repo.set_status(conn, route_id, after.value)
    reported = await record_step(conn, adapter, row, step, after, datetime.now(UTC), reason=reason)
    updated = await repo.lock_route(conn, route_id)
    assert updated is not None
    await webhooks.enqueue(
        conn, adapter, route_id, webhook_kind, {**queue_item(updated), "reason": reason}
    )
    return [reported]


async def cancel_work_item(
    adapter: Adapter, conn: Connection, event: CloudEvent[events.WorkItemCancelled]
) -> list[OutgoingEvent]:
    """The hub ended this route: the provider must stop, and its read of contact details now
    answers 410."""
    cancelled = event.data
    return await _apply_hub_step(
        conn,
        adapter,
        cancelled.route_id,
        "cancelled",
        lifecycle.on_cancelled,
        cancelled.reason,
        "cancelled",
    )


async def erase_work_items(
    adapter: Adapter, conn: Connection, event: CloudEvent[events.PersonalDataErased]
) -> list[OutgoingEvent]:
    """Intake erased the referral's personal data: its work items here leave the queue for
    good, an open one is cancelled (reported back like any cancellation), pushes not yet
    delivered are withdrawn, and a provider whose webhook already heard of the item is told
    it was cancelled. Every later step on it answers 410."""
    now = datetime.now(UTC)
    produced = []
    for row in await repo.mark_erased(conn, event.data.referral_id, now):
        route_id = row["route_id"]
        withdrawn = await repo.cancel_deliveries(conn, route_id)
        current = RouteStatus(row["status"])
        after = lifecycle.on_cancelled(current)
        if after is not current:
            await repo.set_status(conn, route_id, after.value)
            produced.append(
                await record_step(conn, adapter, row, "cancelled", after, now, reason=ERASED)
            )
        if await repo.was_delivered(conn, route_id):
            # Only what the provider's system already holds needs withdrawing; the
            # notice carries ids and the reason, nothing else.
            await webhooks.enqueue(
                conn,
                adapter,
                route_id,
                "cancelled",
                {
                    "referral_id": str(row["referral_id"]),
                    "route_id": str(route_id),
                    "service": row["service"],
                    "status": after.value,
                    "reason": ERASED,
                },
            )
        log.info(
            "work item erased",
            extra={"route_id": str(route_id), "deliveries_withdrawn": withdrawn},
        )
    return produced


def is_own_escalation(adapter: Adapter, event: CloudEvent[events.SlaBreached]) -> bool:
    """An escalation of one of this provider's routes (the SLA topic carries every
    provider's breaches and escalations: the others need no transaction here)."""
    return event.data.service is adapter.service and event.type == events.ESCALATED


async def record_sla_event(
    adapter: Adapter, conn: Connection, event: CloudEvent[events.SlaBreached]
) -> list[OutgoingEvent]:
    """An escalation of one of this provider's routes (others' are ignored): the route is
    escalated and the provider gets a reminder."""
    if not is_own_escalation(adapter, event):
        return []
    breach = event.data
    return await _apply_hub_step(
        conn,
        adapter,
        breach.route_id,
        "escalated",
        lifecycle.on_escalated,
        f"{breach.clock}_overdue",
        "reminder",
    )


def queue_cursors(adapter: Adapter) -> Cursors:
    """The queue's signed cursors (``services.plumbing.cursors``), keyed from the adapter's
    portal secret with a salt naming its service: one provider's cursor is no other's."""
    return Cursors(
        adapter.settings.portal_secret_key.get_secret_value(), f"queue-{adapter.service.value}"
    )


def encode_cursor(adapter: Adapter, row: asyncpg.Record) -> str:
    """An opaque, signed position in the queue (after ``row``), for the next page."""
    return queue_cursors(adapter).issue(
        [row["priority_rank"], row["requested_at"].isoformat(), row["route_id"].hex]
    )


def decode_cursor(adapter: Adapter, cursor: str) -> tuple[int, datetime, uuid.UUID]:
    """The position ``encode_cursor`` signed; ``InvalidCursor`` (a ``ValueError``) for
    anything else, whatever its shape."""
    position = queue_cursors(adapter).read(cursor)
    try:
        rank, at, route_id = position
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise TypeError("rank")
        return rank, datetime.fromisoformat(at), uuid.UUID(hex=route_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidCursor("not a queue cursor") from exc


def queue_item(row: asyncpg.Record) -> dict[str, Any]:
    """A work item as the provider sees it in its queue: no contact details."""
    return {
        "referral_id": str(row["referral_id"]),
        "route_id": str(row["route_id"]),
        "service": row["service"],
        "sub_service": row["sub_service"],
        "priority": row["priority"],
        "status": row["status"],
        "requested_at": row["requested_at"].isoformat(),
        "acknowledge_by": row["acknowledge_by"].isoformat(),
        "contact_due_by": row["contact_due_by"].isoformat(),
        "code_deadline": row["code_deadline"].isoformat(),
        "reason": row["reason"],
        "rule_ids": list(row["rule_ids"]),
        "flags": list(row["flags"]),
        "consent_basis": row["consent_basis"],
        "facts": row["facts"],
        # The person's details changed since this provider last read them: read them again
        # before contacting the person (null once read).
        "contact_changed": contact_change.marker(
            row["contact_changed_at"], row["contact_changed_fields"]
        ),
    }


async def read_work_item(
    adapter: Adapter, referral_id: uuid.UUID, *, person: Person | None = None
) -> dict[str, Any]:
    """The work item with the contact details from intake's vault, logged there as read by
    this provider's system or, with ``person``, by that person. The first read moves a
    requested route to received."""
    telemetry.tag_referral(referral_id)
    async with adapter.pool.acquire() as conn:
        row = await repo.latest_for_referral(conn, referral_id)
    if row is None:
        raise NotFound
    if row["erased_at"] is not None or RouteStatus(row["status"]) in {
        RouteStatus.CANCELLED,
        RouteStatus.REJECTED,
        RouteStatus.CLOSED,
    }:
        raise Gone
    contact = await adapter.vault.contact(referral_id, person)
    version = contact.pop(CONTACT_VERSION, None)
    if isinstance(version, int):
        # These are the details as they now stand: a change they include is read.
        async with adapter.pool.acquire() as conn:
            await repo.contact_read(conn, referral_id, version)
    view = await view_work_item(adapter, referral_id, person=person)
    if person is not None:
        async with adapter.pool.acquire() as conn:
            await repo.add_step(
                conn,
                uuid.UUID(view["route_id"]),
                "contact_details_shown",
                view["status"],
                datetime.now(UTC),
                person.actor,
                {"fields": sorted(k for k, v in contact.items() if v is not None)},
            )
    return {**view, "contact": contact}


async def view_work_item(
    adapter: Adapter, referral_id: uuid.UUID, *, person: Person | None = None
) -> dict[str, Any]:
    """The work item without contact details: its coded facts, contact attempts and outcome.
    Having it in hand is being *viewed*: a requested route becomes received."""
    async with adapter.pool.acquire() as conn, conn.transaction():
        row = await repo.lock_latest_for_referral(conn, referral_id)
        if row is None:
            raise NotFound
        if row["erased_at"] is not None:
            raise Gone
        current = RouteStatus(row["status"])
        after = lifecycle.on_viewed(current)
        if after is not current:
            with telemetry.continue_trace(row["trace_context"], "provider viewed", referral_id):
                await repo.set_status(conn, row["route_id"], after.value)
                viewed = await record_step(
                    conn, adapter, row, "viewed", after, datetime.now(UTC), person=person
                )
                await outbox.add(conn, [viewed])
            row = await repo.latest_for_referral(conn, referral_id)
            assert row is not None
        attempts = await repo.contact_attempts(conn, row["route_id"])
        outcome = await repo.outcome(conn, row["route_id"])
    return {
        **queue_item(row),
        "contact_attempts": [
            {"at": a["at"].isoformat(), "channel": a["channel"], "result": a["result"]}
            for a in attempts
        ],
        "contact_standard": _contact_progress(adapter, attempts).as_dict(),
        "outcome": dict(outcome) if outcome else None,
    }


def _contact_progress(
    adapter: Adapter, attempts: list[asyncpg.Record]
) -> contact_standard.Progress:
    """The route's attempts measured against this service's contact standard."""
    return contact_standard.progress(
        contact_standards.standard(adapter.service),
        ((a["at"], ContactResult(a["result"])) for a in attempts),
    )


async def history(adapter: Adapter, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every step on the referral's latest work item here, oldest first, with its coded
    actor (``NotFound`` when it was never routed to this provider)."""
    async with adapter.pool.acquire() as conn:
        row = await repo.latest_for_referral(conn, referral_id)
        if row is None:
            raise NotFound
        if row["erased_at"] is not None:
            raise Gone
        return await repo.steps(conn, row["route_id"])


async def _change(
    adapter: Adapter,
    referral_id: uuid.UUID,
    step: str,
    decide: Callable[[RouteStatus], RouteStatus],
    record: Callable[[Connection, uuid.UUID, RouteStatus], Awaitable[None]] | None = None,
    *,
    person: Person | None = None,
    **event_extra: Any,
) -> dict[str, Any]:
    """Lock the work item, let the domain decide the next status, save it, announce it."""
    async with adapter.pool.acquire() as conn, conn.transaction():
        row = await repo.lock_latest_for_referral(conn, referral_id)
        if row is None:
            raise NotFound
        if row["erased_at"] is not None:
            raise Gone
        with telemetry.continue_trace(row["trace_context"], f"provider {step}", referral_id):
            current = RouteStatus(row["status"])
            after: RouteStatus = decide(current)
            if record is not None:
                await record(conn, row["route_id"], after)
            else:
                await repo.set_status(conn, row["route_id"], after.value)
            taken = await record_step(
                conn, adapter, row, step, after, datetime.now(UTC), person=person, **event_extra
            )
            await outbox.add(conn, [taken])
    return {
        "referral_id": str(referral_id),
        "route_id": str(row["route_id"]),
        "status": after.value,
    }


async def acknowledge(
    adapter: Adapter,
    referral_id: uuid.UUID,
    *,
    accepted: bool,
    reason: RejectionReason | None,
    note: str | None,
    person: Person | None = None,
) -> dict[str, Any]:
    async def record(conn: Connection, route_id: uuid.UUID, after: RouteStatus) -> None:
        if note and not accepted:
            # Free text: kept in intake's vault (erased with the person's details), never
            # here; inside the transaction, so the note and the step stand or fall together.
            await adapter.vault.add_note(referral_id, "rejection_note", note, person)
        await repo.set_status(
            conn,
            route_id,
            after.value,
            rejection_reason=reason.value if reason else None,
        )

    return await _change(
        adapter,
        referral_id,
        "acknowledged",
        lambda current: lifecycle.on_acknowledged(current, accepted=accepted),
        record,
        person=person,
        rejection_reason=None if accepted else reason,
    )


async def record_contact_attempt(
    adapter: Adapter,
    referral_id: uuid.UUID,
    *,
    at: datetime,
    channel: ContactChannel,
    result: ContactResult,
    person: Person | None = None,
) -> dict[str, Any]:
    async def record(conn: Connection, route_id: uuid.UUID, after: RouteStatus) -> None:
        # Judged under the route's lock: a change of details arriving now is either seen
        # here or comes after the attempt.
        row = await repo.lock_route(conn, route_id)
        assert row is not None
        if at < row["requested_at"] - ATTEMPT_CLOCK_SLACK:
            raise AttemptBeforeRequest
        refused = contact_change.refusal(
            row["contact_changed_at"],
            row["contact_changed_fields"],
            attempt_at=at,
            channel=channel,
        )
        if refused is not None:
            raise ContactDetailsChanged(refused)
        await repo.add_contact_attempt(conn, route_id, at, channel.value, result.value)
        await repo.set_status(conn, route_id, after.value)

    return await _change(
        adapter,
        referral_id,
        "contact_attempt",
        lambda current: lifecycle.on_contact_attempt(current, result),
        record,
        person=person,
        contact_attempt=events.ContactAttempt(at=at, channel=channel, result=result),
    )


async def record_outcome(
    adapter: Adapter,
    referral_id: uuid.UUID,
    *,
    status: OutcomeStatus,
    reason: str | None,
    measures: dict[str, Any],
    person: Person | None = None,
) -> dict[str, Any]:
    coded_reason = reason if reason and re.fullmatch(CODE_PATTERN, reason) else None

    async def record(conn: Connection, route_id: uuid.UUID, after: RouteStatus) -> None:
        if status is OutcomeStatus.FAILED and reason == contact_standards.NOT_CONTACTABLE:
            # Judged under the route's row lock, so an attempt recorded at the same moment
            # is either counted or comes after the outcome (and is refused then).
            measured = _contact_progress(adapter, await repo.contact_attempts(conn, route_id))
            if not measured.met:
                raise contact_standard.StandardNotMet(measured)
        if reason and coded_reason is None:
            # A reason in words, not a code: kept in intake's vault, never here.
            await adapter.vault.add_note(referral_id, "outcome_reason", reason, person)
        await repo.add_outcome(conn, route_id, status.value, coded_reason, measures)
        await repo.set_status(conn, route_id, after.value)

    wrong = outcome_measures.problems(adapter.service, measures)
    if wrong:
        raise InvalidMeasures(wrong)
    return await _change(
        adapter,
        referral_id,
        "outcome",
        lambda current: lifecycle.on_outcome(current, status),
        record,
        person=person,
        outcome=events.Outcome(status=status, reason=coded_reason, measures=measures),
    )


async def queue(
    adapter: Adapter,
    *,
    statuses: list[str],
    after: tuple[int, datetime, uuid.UUID] | None,
    limit: int,
    before: tuple[int, datetime, uuid.UUID] | None = None,
) -> list[asyncpg.Record]:
    async with adapter.pool.acquire() as conn:
        return await repo.queue_page(
            conn, statuses=statuses, after=after, before=before, limit=limit
        )


async def counts(adapter: Adapter) -> dict[str, int]:
    """How many work items are in each status."""
    async with adapter.pool.acquire() as conn:
        return await repo.count_by_status(conn)
