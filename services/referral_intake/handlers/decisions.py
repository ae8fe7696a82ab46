"""Projecting the router's decisions and the adapters' status reports onto the referral,
and sending a rejected route back to the router for re-routing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from schemas import events
from schemas.codes import TERMINAL_ROUTE_STATUSES, RejectionReason, RouteStatus, Trigger
from schemas.envelope import CloudEvent
from services.plumbing.db import Connection
from services.plumbing.kafka import Delivered
from services.plumbing.outbox import OutgoingEvent
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
    reassessment,
    refresh_referral_status,
    route_change,
)
from services.referral_intake.handlers.submission import pending_reassessment

EventT = TypeVar("EventT")


class Projected(NamedTuple):
    """What recording one event did: the referral whose report facts it changed, if any, and
    the events it causes (a rejected route sent back to the router)."""

    referral_id: uuid.UUID | None
    produced: list[OutgoingEvent]


Record = Callable[[Connection, EventT], Awaitable[Projected]]
"""Records one event in the caller's transaction."""


async def _project(
    conn: Connection,
    record: Record[EventT],
    events_: list[tuple[uuid.UUID, EventT, AbstractContextManager[object]]],
) -> dict[uuid.UUID, list[OutgoingEvent]]:
    """Record events (id, event, trace) in order, each in its trace, then refresh the report
    facts of the referrals they changed, once each. The events each caused, by its id."""
    changed: set[uuid.UUID] = set()
    produced: dict[uuid.UUID, list[OutgoingEvent]] = {}
    for event_id, event, traced in events_:
        with traced:
            projected = await record(conn, event)
        if projected.referral_id is not None:
            changed.add(projected.referral_id)
        produced[event_id] = projected.produced
    await report_facts.refresh(conn, changed)
    return produced


async def record_decision(
    conn: Connection, event: CloudEvent[events.ReferralRouted]
) -> list[OutgoingEvent]:
    """Project the router's decision onto its referral: the decision, its routes and the
    timeline; a route its provider already rejected goes back to the router."""
    return (await _project(conn, _record_decision, [(event.id, event, nullcontext())]))[event.id]


async def record_decisions(
    conn: Connection, batch: list[Delivered[CloudEvent[events.ReferralRouted]]]
) -> dict[uuid.UUID, list[OutgoingEvent]]:
    """``record_decision`` for several decisions, in order, in one transaction: one commit
    and one offset commit for all of them. If any fails, the consumer handles each on its
    own (``services.plumbing.kafka``)."""
    return await _project(
        conn, _record_decision, [(d.event.id, d.event, d.traced()) for d in batch]
    )


async def _record_decision(conn: Connection, event: CloudEvent[events.ReferralRouted]) -> Projected:
    decision = event.data
    if not await referral_store.exists(conn, decision.referral_id):
        return Projected(None, [])  # intake is the system of record and never published it
    actor = "router"
    if decision.request_id is not None:
        supervisor = await override_store.supervisor_of(conn, decision.request_id)
        if supervisor is not None:
            actor = supervisor
    await _store_decision(conn, decision, actor)
    await _cancel_routes(conn, decision, actor)
    produced = await _insert_routes(conn, decision, actor)
    await refresh_referral_status(conn, decision.referral_id, decision.decided_at)
    waited = await _after_awaited_decision(conn, decision)
    # The resubmission asked for its re-assessment before this decision's rejected routes
    # asked for theirs: it goes first.
    return Projected(decision.referral_id, ([waited] if waited else []) + produced)


async def _store_decision(conn: Connection, decision: events.ReferralRouted, actor: str) -> None:
    """The decision as the referral keeps it, its statutory flags, and its timeline entry."""
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


async def _cancel_routes(conn: Connection, decision: events.ReferralRouted, actor: str) -> None:
    """The routes the decision ended, unless they ended already."""
    for cancelled in decision.cancelled_routes:
        current = await route_store.get(conn, cancelled.route_id)
        if current is None or current.status in TERMINAL_ROUTE_STATUSES:
            continue
        await route_store.set_status(
            conn, cancelled.route_id, RouteStatus.CANCELLED.value, decision.decided_at
        )
        await _route_moved(
            conn,
            decision,
            actor,
            cancelled.route_id,
            RouteStatus.CANCELLED,
            decision.decided_at,
            {"service": cancelled.service.value, "reason": cancelled.reason},
        )


async def _insert_routes(
    conn: Connection, decision: events.ReferralRouted, actor: str
) -> list[OutgoingEvent]:
    """The routes the decision dispatched; a re-routing request for each one its provider
    rejected before the decision arrived."""
    produced = []
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
        await _route_moved(
            conn,
            decision,
            actor,
            route.route_id,
            RouteStatus.REQUESTED,
            route.requested_at,
            {"service": route.service.value, "sub_service": route.sub_service},
        )
        if reported == RouteStatus.REJECTED.value:
            produced.append(await _ask_to_reroute(conn, decision.referral_id, route.route_id))
    return produced


async def _route_moved(
    conn: Connection,
    decision: events.ReferralRouted,
    actor: str,
    route_id: uuid.UUID,
    status: RouteStatus,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    """The decision's step on one of its routes, on the referral's timeline: the step is
    named by the status the route moved to (``requested``, ``cancelled``)."""
    await timeline_store.add(
        conn,
        decision.referral_id,
        status.value,
        at,
        actor=actor,
        route_id=route_id,
        status=status.value,
        detail=detail,
    )


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


async def _after_awaited_decision(
    conn: Connection, decision: events.ReferralRouted
) -> OutgoingEvent | None:
    """A resubmission's re-assessment waits for the referral's latest decision: once it is
    in, the one waiting (if any) is what this decision causes."""
    state = await submission_store.reassessment_state(conn, decision.referral_id)
    if state is None:
        return None
    if state.awaiting_decision == decision.decision_id:
        await submission_store.set_reassessment_state(
            conn, decision.referral_id, None, state.pending_reassessment
        )
    elif state.awaiting_decision is not None:
        return None  # still waiting for the resubmission's own decision
    return await pending_reassessment(conn, decision.referral_id)


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
    conn: Connection, event: CloudEvent[events.RouteStatusChanged]
) -> list[OutgoingEvent]:
    """Project a provider's status report onto its route and the referral's timeline; a
    rejection goes back to the router for re-routing."""
    return (await _project(conn, _record_route_status, [(event.id, event, nullcontext())]))[
        event.id
    ]


async def record_route_statuses(
    conn: Connection, batch: list[Delivered[CloudEvent[events.RouteStatusChanged]]]
) -> dict[uuid.UUID, list[OutgoingEvent]]:
    """``record_route_status`` for several reports, in order, in one transaction."""
    return await _project(
        conn, _record_route_status, [(d.event.id, d.event, d.traced()) for d in batch]
    )


async def _record_route_status(
    conn: Connection, event: CloudEvent[events.RouteStatusChanged]
) -> Projected:
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
    referral = await referral_store.get(conn, change.referral_id, lock=True)
    if referral is None:
        return Projected(None, [])
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
        return Projected(
            None, []
        )  # the decision that created it has not arrived yet; it will pick this up
    produced = []
    # An older step arriving after a newer one (re-sent after a broker fault) belongs in the
    # history above and in the report's facts, which are read from it, but must not move
    # the route back.
    if change.at >= route.updated_at:
        already_rejected = route.status is RouteStatus.REJECTED
        await route_store.set_status(conn, change.route_id, change.status.value, change.at)
        if change.status is RouteStatus.REJECTED and not already_rejected:
            produced.append(
                await _ask_to_reroute(
                    conn, change.referral_id, change.route_id, change.rejection_reason
                )
            )
        await refresh_referral_status(conn, change.referral_id, change.at)
    return Projected(change.referral_id, produced)


async def _ask_to_reroute(
    conn: Connection,
    referral_id: uuid.UUID,
    route_id: uuid.UUID,
    reason: RejectionReason | None = None,
) -> OutgoingEvent:
    """Re-routing a rejected route is the policy's call: ask the router, never route
    around it."""
    referral = await referral_store.get(conn, referral_id, lock=True)
    route = await route_store.get(conn, route_id)
    assert referral is not None
    assert route is not None
    if reason is None:
        reason = await timeline_store.latest_rejection_reason(conn, route_id)
    change = route_change(route, reason)
    return await reassessment(
        conn, referral_id, referral.facts, Trigger.ROUTE_REJECTED, change=change
    )
