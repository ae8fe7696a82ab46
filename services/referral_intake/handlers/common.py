"""What intake's handlers share: errors, names, the referral-status refresh, and the
re-assessment request that sends a change to the router."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from schemas import events, refusals
from schemas.codes import TERMINAL_ROUTE_STATUSES, ReferralStatus, RouteStatus, Trigger
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.plumbing.outbox import OutgoingEvent
from services.referral_intake.adapters import repository as repo
from services.referral_intake.domain.lifecycle import referral_status

SOURCE = "referral_intake"
ROUTED_CONSUMER = "referral_intake.routed"
STATUS_CONSUMER = "referral_intake.route_status"
WATCHDOG = "watchdog"


# The hub's two refusals (schemas/refusals.py), answered 404 and 409 wherever they are raised.
NotFound = refusals.NotFound
Conflict = refusals.Refused
"""The request cannot apply to the referral as it stands; the sentence says why."""


async def refresh_referral_status(conn: Connection, referral_id: uuid.UUID, at: datetime) -> None:
    decision = await repo.referral_decision(conn, referral_id)
    decided = ReferralStatus(decision["status"]) if decision else None
    statuses = [RouteStatus(s) for s in await repo.route_statuses(conn, referral_id)]
    held = bool(decision and decision.get("held_routes"))
    status = referral_status(decided, statuses, held)
    await repo.set_referral_status(conn, referral_id, status.value, at)


def _route_view(row: asyncpg.Record) -> events.OpenRoute:
    return events.OpenRoute(
        route_id=row["route_id"],
        service=row["service"],
        sub_service=row["sub_service"],
        priority=row["priority"],
        status=row["status"],
        consent_basis=row["consent_basis"],
        code_deadline=row["code_deadline"],
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
    routes = await repo.routes_of(conn, referral_id)
    return outgoing(
        events.ReassessmentRequested(
            trigger=trigger,
            request_id=request_id,
            facts=events.ReferralFacts.model_validate(facts),
            open_routes=[
                _route_view(r) for r in routes if r["status"] not in TERMINAL_ROUTE_STATUSES
            ],
            ended_routes=[_route_view(r) for r in routes if r["status"] in TERMINAL_ROUTE_STATUSES],
            change=change,
            decision_id=decision_id,
        ),
        source=SOURCE,
        referral_id=referral_id,
    )
