"""Projecting the router's decisions and the adapters' status reports onto the referral,
and sending a rejected route back to the router for re-routing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import asyncpg

from schemas import events, topics
from schemas.codes import TERMINAL_ROUTE_STATUSES, RejectionReason, RouteStatus, Trigger
from schemas.envelope import CloudEvent
from services.plumbing import inbox, outbox
from services.plumbing.db import Connection
from services.plumbing.kafka import Delivered
from services.referral_intake.adapters import overrides as override_store
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import reports as report_facts
from services.referral_intake.adapters import routes as route_store
from services.referral_intake.adapters import statutory as statutory_referrals
from services.referral_intake.adapters import submissions as submission_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.domain import timeline
from services.referral_intake.domain.statutory import statutory
from services.referral_intake.handlers.common import (
    ROUTED_CONSUMER,
    STATUS_CONSUMER,
    reassessment,
    refresh_referral_status,
    route_change,
)
from services.referral_intake.handlers.submission import send_pending_reassessment

EventT = TypeVar("EventT")
Record = Callable[[Connection, EventT], Awaitable[uuid.UUID | None]]
"""Records one event in the caller's transaction; the referral whose report facts it
changed, if any."""


async def _in_one_transaction(
    pool: asyncpg.Pool,
    record: Record[EventT],
    events_: list[tuple[EventT, AbstractContextManager[object]]],
) -> None:
    """Record events in order (each in its trace) in one transaction, then refresh the
    report facts of the referrals they changed, once each."""
    async with pool.acquire() as conn, conn.transaction():
        changed: set[uuid.UUID] = set()
        for event, traced in events_:
            with traced:
                if (referral_id := await record(conn, event)) is not None:
                    changed.add(referral_id)
        await report_facts.refresh(conn, changed)


async def record_decision(pool: asyncpg.Pool, event: CloudEvent[events.ReferralRouted]) -> None:
    await _in_one_transaction(pool, _record_decision, [(event, nullcontext())])


async def record_decisions(
    pool: asyncpg.Pool, batch: list[Delivered[CloudEvent[events.ReferralRouted]]]
) -> None:
    """``record_decision`` for several decisions, in order, in one transaction: one commit
    and one offset commit for all of them. If any fails, the consumer handles each on its
    own (``services.plumbing.kafka``)."""
    await _in_one_transaction(pool, _record_decision, [(d.event, d.traced()) for d in batch])


async def _record_decision(
    conn: Connection, event: CloudEvent[events.ReferralRouted]
) -> uuid.UUID | None:
    decision = event.data
    if not await inbox.first_time_or_redrive(
        conn, ROUTED_CONSUMER, event.id, topics.REFERRAL_ROUTED
    ):
        return None
    if not await referral_store.exists(conn, decision.referral_id):
        return None  # not ours: intake is the system of record and never published it
    actor = "router"
    if decision.request_id is not None:
        supervisor = await override_store.supervisor_of(conn, decision.request_id)
        if supervisor is not None:
            actor = supervisor
    previous = (
        await referral_store.decision(conn, decision.referral_id)
        if timeline.keeps_earlier_flags(decision.trigger)
        else None
    )
    stored = timeline.stored_decision(decision, previous)
    await referral_store.store_decision(conn, decision.referral_id, stored, decision.decided_at)
    await statutory_referrals.raise_flags(
        conn,
        decision.referral_id,
        statutory(stored.get("flags", [])),
        at=decision.decided_at,
        policy_version=decision.policy_version,
        full_assessment=timeline.is_full_assessment(decision.trigger),
    )
    await timeline_store.add(
        conn,
        decision.referral_id,
        timeline.decision_event(decision),
        decision.decided_at,
        actor=actor,
        detail={
            **timeline.decision_detail(decision),
            **await _assessment_detail(conn, decision),
        },
    )
    for cancelled in decision.cancelled_routes:
        current = await route_store.get(conn, cancelled.route_id)
        if current is None or current.status in TERMINAL_ROUTE_STATUSES:
            continue
        await route_store.set_status(
            conn, cancelled.route_id, RouteStatus.CANCELLED.value, decision.decided_at
        )
        await timeline_store.add(
            conn,
            decision.referral_id,
            "cancelled",
            decision.decided_at,
            actor=actor,
            route_id=cancelled.route_id,
            status=RouteStatus.CANCELLED.value,
            detail={"service": cancelled.service.value, "reason": cancelled.reason},
        )
    for route in decision.routes:
        # A status report may have overtaken the decision (another topic); keep it.
        reported = await timeline_store.latest_reported_status(conn, route.route_id)
        await route_store.insert(
            conn,
            decision.referral_id,
            decision.decision_id,
            route,
            reported or RouteStatus.REQUESTED.value,
            decision.trigger_event_id,
        )
        await timeline_store.add(
            conn,
            decision.referral_id,
            "requested",
            route.requested_at,
            actor=actor,
            route_id=route.route_id,
            status=RouteStatus.REQUESTED.value,
            detail={"service": route.service.value, "sub_service": route.sub_service},
        )
        if reported == RouteStatus.REJECTED.value:
            await _ask_to_reroute(conn, decision.referral_id, route.route_id, caused_by=event.id)
    await refresh_referral_status(conn, decision.referral_id, decision.decided_at)
    await _after_awaited_decision(conn, decision)
    return decision.referral_id


async def _assessment_detail(conn: Connection, decision: events.ReferralRouted) -> dict[str, Any]:
    """For a resubmission's decision: which submissions it answers, what it kept, and the
    routes it ended in favour of others (so the timeline shows each assessment)."""
    if decision.trigger != Trigger.RESUBMITTED:
        return {}
    versions = await submission_store.submission_versions_deciding(
        conn, decision.referral_id, decision.decision_id
    )
    kept = [
        r.service.value
        for r in await route_store.read(conn, referral_id=decision.referral_id)
        if r.route_id in set(decision.kept_route_ids)
    ]
    return {
        "decision_id": str(decision.decision_id),
        "submissions": versions,
        "kept_services": kept,
        "priorities": {r.service.value: r.priority.value for r in decision.routes},
    }


async def _after_awaited_decision(conn: Connection, decision: events.ReferralRouted) -> None:
    """A resubmission's re-assessment waits for the referral's latest decision: once it is
    in, the one waiting (if any) is sent."""
    state = await submission_store.reassessment_state(conn, decision.referral_id)
    if state is None:
        return
    if state.awaiting_decision == decision.decision_id:
        await submission_store.set_reassessment_state(
            conn, decision.referral_id, None, state.pending_reassessment
        )
    elif state.awaiting_decision is not None:
        return  # still waiting for the resubmission's own decision
    await send_pending_reassessment(conn, decision.referral_id)


def _reported_by(source: str, change: events.RouteStatusChanged | None = None) -> str:
    """The person who took the step (their coded actor, ``IDVA:caseworker:<id>``, when the
    provider's portal names one for the route's own service), else ``provider_adapter.IDVA``
    → ``IDVA provider``."""
    if change is not None and change.actor and change.actor.startswith(f"{change.service}:"):
        return change.actor
    return (
        f"{source.rsplit('.', 1)[-1]} provider"
        if source.startswith("provider_adapter.")
        else source
    )


async def record_route_status(
    pool: asyncpg.Pool, event: CloudEvent[events.RouteStatusChanged]
) -> None:
    await _in_one_transaction(pool, _record_route_status, [(event, nullcontext())])


async def record_route_statuses(
    pool: asyncpg.Pool, batch: list[Delivered[CloudEvent[events.RouteStatusChanged]]]
) -> None:
    """``record_route_status`` for several reports, in order, in one transaction."""
    await _in_one_transaction(pool, _record_route_status, [(d.event, d.traced()) for d in batch])


async def _record_route_status(
    conn: Connection, event: CloudEvent[events.RouteStatusChanged]
) -> uuid.UUID | None:
    change = event.data
    detail: dict[str, Any] = {"service": change.service.value}
    if change.rejection_reason:
        detail["rejection_reason"] = change.rejection_reason.value
    if change.contact_attempt:
        detail["contact_attempt"] = change.contact_attempt.model_dump(mode="json")
    if change.outcome:
        detail["outcome"] = change.outcome.model_dump(mode="json")
    if change.reason:
        detail["reason"] = change.reason
    if not await inbox.first_time_or_redrive(
        conn, STATUS_CONSUMER, event.id, topics.REFERRAL_STATUS
    ):
        return None
    referral = await referral_store.get(conn, change.referral_id, lock=True)
    if referral is None:
        return None
    await timeline_store.add(
        conn,
        change.referral_id,
        change.step,
        change.at,
        actor=_reported_by(event.source, change),
        route_id=change.route_id,
        status=change.status.value,
        detail=detail,
    )
    route = await route_store.get(conn, change.route_id)
    if route is None:
        return None  # the decision that created it has not arrived yet; it will pick this up
    # An older step arriving after a newer one (re-sent after a broker fault) belongs in the
    # history above and in the report's facts, which are read from it, but must not move
    # the route back.
    if change.at >= route.updated_at:
        already_rejected = route.status is RouteStatus.REJECTED
        await route_store.set_status(conn, change.route_id, change.status.value, change.at)
        if change.status is RouteStatus.REJECTED and not already_rejected:
            await _ask_to_reroute(
                conn,
                change.referral_id,
                change.route_id,
                change.rejection_reason,
                caused_by=event.id,
            )
        await refresh_referral_status(conn, change.referral_id, change.at)
    return change.referral_id


async def _ask_to_reroute(
    conn: Connection,
    referral_id: uuid.UUID,
    route_id: uuid.UUID,
    reason: RejectionReason | None = None,
    *,
    caused_by: uuid.UUID,
) -> None:
    """Re-routing a rejected route is the policy's call: ask the router, never route
    around it."""
    referral = await referral_store.get(conn, referral_id, lock=True)
    route = await route_store.get(conn, route_id)
    assert referral is not None
    assert route is not None
    if reason is None:
        reason = await timeline_store.latest_rejection_reason(conn, route_id)
    change = route_change(route, reason)
    await outbox.add(
        conn,
        [
            await reassessment(
                conn, referral_id, referral.facts, Trigger.ROUTE_REJECTED, change=change
            )
        ],
        caused_by=caused_by,
    )
