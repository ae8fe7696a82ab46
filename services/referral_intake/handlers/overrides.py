"""A supervisor adds or removes a route, with a justification. The router records it as a
decision with rule id ``MANUAL``; intake keeps the justification and who made it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from schemas import events
from schemas.codes import TERMINAL_ROUTE_STATUSES, Priority, Service
from schemas.refusals import Refused
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.referral_intake.adapters import overrides as override_store
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import routes as route_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain import overrides
from services.referral_intake.domain.overrides import OverrideAction
from services.referral_intake.handlers.common import locked_referral, reassessment
from services.referral_intake.handlers.notes import OVERRIDE_JUSTIFICATION


async def override_routes(
    pool: asyncpg.Pool,
    vault: Vault,
    referral_id: uuid.UUID,
    *,
    action: OverrideAction,
    service: Service,
    sub_service: str | None,
    priority: Priority | None,
    justification: str,
    supervisor: str,
) -> dict[str, str]:
    now = datetime.now(UTC)
    request_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        referral = await locked_referral(conn, referral_id)
        route_id = await _route_to_change(conn, referral, action, service)
        # The justification is free text that may name the person: sealed in the vault.
        note = await vault.add_note(
            conn,
            referral_id,
            OVERRIDE_JUSTIFICATION,
            justification,
            author=supervisor,
            route_id=route_id,
        )
        await override_store.add_override(
            conn,
            request_id,
            referral_id,
            action=action,
            service=service.value,
            sub_service=sub_service,
            justification_note=note,
            supervisor=supervisor,
        )
        await timeline_store.add(
            conn,
            referral_id,
            overrides.requested_event(action),
            now,
            actor=supervisor,
            route_id=route_id,
            detail={"service": service.value, "note_id": note},
        )
        change = events.RouteChange(
            route_id=route_id, service=service, sub_service=sub_service, priority=priority
        )
        asked = await reassessment(
            conn,
            referral_id,
            referral.facts,
            overrides.trigger(action),
            change=change,
            request_id=request_id,
        )
        await outbox.add(conn, [asked])
    return {"referral_id": str(referral_id), "override": action, "service": service.value}


async def _route_to_change(
    conn: Connection, referral: referral_store.Referral, action: OverrideAction, service: Service
) -> uuid.UUID | None:
    """The open route a removal ends (None for an addition); ``Refused`` when the override
    cannot be made (``domain.overrides.refusal``)."""
    open_routes = [
        r
        for r in await route_store.read(conn, referral_id=referral.referral_id, service=service)
        if r.status not in TERMINAL_ROUTE_STATUSES
    ]
    refused = overrides.refusal(
        action,
        service,
        routed=referral.decision is not None,
        open_routes=len(open_routes),
        erased=referral.erased_at is not None,
    )
    if refused is not None:
        raise Refused(refused)
    route_id: uuid.UUID | None = open_routes[0].route_id if action == "remove" else None
    return route_id
