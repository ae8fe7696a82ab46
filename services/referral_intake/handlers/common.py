"""What intake's handlers share: errors, names, the referral-status refresh, and the
re-assessment request that sends a change to the router."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from schemas import events, refusals
from schemas.codes import (
    TERMINAL_ROUTE_STATUSES,
    ReferralStatus,
    RejectionReason,
    Service,
    Trigger,
)
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.plumbing.outbox import OutgoingEvent
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import routes as route_store
from services.referral_intake.domain.lifecycle import referral_status

SOURCE = "referral_intake"
ROUTED_CONSUMER = "referral_intake.routed"
STATUS_CONSUMER = "referral_intake.route_status"
WATCHDOG = "watchdog"


class Erased(refusals.Refused):
    """The referral's personal data was erased (by retention or on request): there is
    nothing left to read, note or change. Answered 410."""

    status = 410
    title = "Gone"
    says = "This referral's personal data has been erased."


"""The request cannot apply to the referral as it stands; the sentence says why."""


async def refresh_referral_status(conn: Connection, referral_id: uuid.UUID, at: datetime) -> None:
    decision = await referral_store.decision(conn, referral_id)
    decided = ReferralStatus(decision["status"]) if decision else None
    statuses = [r.status for r in await route_store.read(conn, referral_id=referral_id)]
    held = bool(decision and decision.get("held_routes"))
    status = referral_status(decided, statuses, held)
    await referral_store.set_status(conn, referral_id, status.value, at)


def _route_view(route: route_store.StoredRoute) -> events.OpenRoute:
    return events.OpenRoute(
        route_id=route.route_id,
        service=route.service,
        sub_service=route.sub_service,
        priority=route.priority,
        status=route.status,
        consent_basis=route.consent_basis,
        code_deadline=route.code_deadline,
    )


def route_change(
    route: route_store.StoredRoute, rejection_reason: RejectionReason | None = None
) -> events.RouteChange:
    """The route a re-assessment is about (rejected, with ``rejection_reason``, or breached)."""
    return events.RouteChange(
        route_id=route.route_id,
        service=route.service,
        sub_service=route.sub_service,
        priority=route.priority,
        rejection_reason=rejection_reason,
        consent_basis=route.consent_basis,
        code_deadline=route.code_deadline,
    )


async def reassessment(
    conn: Connection,
    referral_id: uuid.UUID,
    facts: dict[str, Any],
    trigger: Trigger,
    *,
    change: events.RouteChange | None = None,
    request_id: uuid.UUID | None = None,
    decision_id: uuid.UUID | None = None,
) -> OutgoingEvent:
    """A ``referral.reassess.v1`` event carrying the referral's current facts and routes."""
    routes = await route_store.read(conn, referral_id=referral_id)
    return outgoing(
        events.ReassessmentRequested(
            trigger=trigger,
            request_id=request_id,
            facts=events.ReferralFacts.model_validate(facts),
            open_routes=[_route_view(r) for r in routes if r.status not in TERMINAL_ROUTE_STATUSES],
            ended_routes=[_route_view(r) for r in routes if r.status in TERMINAL_ROUTE_STATUSES],
            change=change,
            decision_id=decision_id,
        ),
        source=SOURCE,
        referral_id=referral_id,
    )


async def locked_referral(conn: Connection, referral_id: uuid.UUID) -> referral_store.Referral:
    """The referral, its row locked until the transaction ends; ``NotFound`` when intake
    holds none."""
    referral = await referral_store.get(conn, referral_id, lock=True)
    if referral is None:
        raise refusals.NotFound
    return referral


async def routed_referral(
    conn: Connection, referral_id: uuid.UUID, service: Service
) -> tuple[referral_store.Referral, list[route_store.StoredRoute]]:
    """The referral (locked) and its routes to ``service``, newest first; ``NotFound`` when
    nothing was ever routed to ``service``, exactly as for a referral that does not exist."""
    routes = await route_store.read(
        conn, referral_id=referral_id, service=service, newest_first=True
    )
    if not routes:
        raise refusals.NotFound
    return await locked_referral(conn, referral_id), routes
