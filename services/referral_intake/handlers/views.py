"""What staff read: one referral with its decision, routes, clocks and timeline; and the
worklist. No personal data: contact details are read separately, and logged."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from schemas.refusals import NotFound
from services.plumbing.cursors import Cursors, InvalidCursor
from services.referral_intake.adapters import identities as identity_store
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import routes as route_store
from services.referral_intake.adapters import statutory as statutory_sql
from services.referral_intake.adapters import submissions as submission_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.handlers import statutory
from services.referral_intake.handlers.notes import with_notes


def _timeline_entry(
    step: timeline_store.TimelineEntry, services: Mapping[uuid.UUID, str]
) -> dict[str, Any]:
    """One step as staff read it; ``services``: the service of each of the referral's
    routes (a step of a route not created yet has none)."""
    entry: dict[str, Any] = {"event": step.event, "at": step.at.isoformat()}
    if step.status:
        entry["status"] = step.status
    if step.route_id:
        entry["route_id"] = str(step.route_id)
    entry.update(step.detail)
    service = services.get(step.route_id) if step.route_id else None
    if service and "service" not in entry:
        entry["service"] = service
    entry["by"] = step.actor or "hub"
    if step.actor_name and step.actor:
        # A person at a provider: named here, at read time, never on the bus.
        entry["by_actor"] = step.actor
        entry["by"] = f"{step.actor_name} ({step.actor.split(':', 1)[0]})"
    return entry


def _route(
    route: route_store.StoredRoute,
    timeline: list[timeline_store.TimelineEntry],
    notes: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    return {
        **_worklist_route(route),
        "rule_ids": list(route.rule_ids),
        "reason": route.reason,
        "consent_basis": route.consent_basis.value,
        "requested_at": route.requested_at.isoformat(),
        "timeline": [
            with_notes(_timeline_entry(t, {route.route_id: route.service.value}), notes)
            for t in timeline
            if t.route_id == route.route_id
        ],
    }


async def referral_view(
    pool: asyncpg.Pool, referral_id: uuid.UUID, vault: Vault | None = None
) -> dict[str, Any]:
    """The referral as staff read it. With ``vault``, the free-text notes sealed there
    (justifications, who recorded consent, providers' notes) are opened and shown: under
    ``notes``, and each override's justification in its timeline entry (``null`` once the
    personal data was erased)."""
    async with pool.acquire() as conn:
        referral = await referral_store.get(conn, referral_id)
        if referral is None:
            raise NotFound
        routes = await route_store.read(conn, referral_id=referral_id)
        timeline = await timeline_store.of_referral(conn, referral_id)
        statutory_referrals = await statutory_sql.of_referral(conn, referral_id)
        submissions = await submission_store.submissions_of(conn, referral_id)
        linked = await identity_store.linked_referrals(conn, referral_id)
        sealed = await vault.notes(conn, referral_id) if vault is not None else []
    notes = {note["note_id"]: note for note in sealed}
    services = {route.route_id: route.service.value for route in routes}
    stored = referral.decision
    flags = list(stored.get("flags", [])) if stored else []
    if referral.repeat_victim:
        flags.append("repeat_victim")
    view: dict[str, Any] = {
        "referral_id": str(referral.referral_id),
        "status": referral.status.value,
        "received_at": referral.received_at.isoformat(),
        "consent": referral.consent_status,
        "repeat_victim": referral.repeat_victim,
        "enhanced_rights": stored["enhanced_rights"] if stored else None,
        "decision": None,
        "statutory_referrals": [statutory.view(r) for r in statutory_referrals],
        "timeline": [with_notes(_timeline_entry(t, services), notes) for t in timeline],
        "notes": [{k: v for k, v in n.items() if v is not None} for n in sealed],
        # Every submission as it was given (coded facts only), who sent it, what it raised
        # and what the record kept, and the decision that followed.
        "submissions": [_submission(s) for s in submissions],
        # The same person's other referrals (another role, another crime).
        "linked_referrals": [_linked(r) for r in linked],
    }
    if stored:
        view["decision"] = {
            **_decision(stored, flags),
            "routes": [_route(r, timeline, notes) for r in routes],
            "held_routes": stored.get("held_routes", []),
        }
    return view


def _linked(link: identity_store.LinkedReferral) -> dict[str, Any]:
    return {
        "referral_id": str(link.linked_id),
        "relation": link.relation,
        "role": link.role,
        "status": link.status.value,
        "linked_at": link.at.isoformat(),
    }


def _decision(stored: dict[str, Any], flags: list[str]) -> dict[str, Any]:
    """The stored decision as staff read it, with every flag once (the repeat-victim flag
    among them)."""
    return {
        "decision_id": stored.get("decision_id"),
        "policy_version": stored["policy_version"],
        "decided_at": stored["decided_at"],
        "status": stored["status"],
        "reason": stored.get("reason"),
        "da_risk": stored.get("da_risk"),
        "enhanced_rights": stored["enhanced_rights"],
        "flags": list(dict.fromkeys(flags)),
    }


def _submission(submission: submission_store.Submission) -> dict[str, Any]:
    return {
        "submission": submission.version,
        "submitted_at": submission.submitted_at.isoformat(),
        "submitted_by": submission.submitted_by,
        "raised": list(submission.raised),
        "kept_from_record": list(submission.kept_from_record),
        "consent_change": submission.consent_change,
        "decision_id": str(submission.decision_id) if submission.decision_id else None,
        "facts": submission.facts,
    }


def encode_cursor(cursors: Cursors, received_at: datetime, referral_id: uuid.UUID) -> str:
    """The signed position after this referral in the worklist (``services.plumbing.cursors``)."""
    return cursors.issue([received_at.isoformat(), referral_id.hex])


def decode_cursor(cursors: Cursors, cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position ``encode_cursor`` signed; ``InvalidCursor`` (a ``ValueError``) for
    anything this API did not give out, whatever its shape."""
    position = cursors.read(cursor)
    try:
        at, referral_id = position
        return datetime.fromisoformat(at), uuid.UUID(hex=referral_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidCursor("not a worklist cursor") from exc


async def worklist(
    pool: asyncpg.Pool,
    *,
    status: str | None,
    service: str | None,
    local_authority: str | None,
    breached: bool | None,
    flag: str | None,
    cursor: str | None,
    limit: int,
    cursors: Cursors,
    action_required: bool | None = None,
) -> dict[str, Any]:
    """Oldest first. ``breached=true`` is the supervisor's list: referrals with a route that
    missed a clock and is still open; ``action_required=true`` the referrals with a statutory
    referral (``flag``, when given) that no supervisor has recorded as made."""
    async with pool.acquire() as conn:
        rows = await referral_store.worklist(
            conn,
            status=status,
            service=service,
            local_authority=local_authority,
            breached=breached,
            flag=flag,
            after=decode_cursor(cursors, cursor) if cursor else None,
            limit=limit + 1,
            action_required=action_required,
        )
        page = rows[:limit]
        ids = [r.referral_id for r in page]
        routes = await route_store.read(conn, referral_ids=ids)
        outstanding = await statutory_sql.outstanding_for(conn, ids)
    by_referral: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for route in routes:
        by_referral.setdefault(route.referral_id, []).append(_worklist_route(route))
    items = [
        {
            "referral_id": str(r.referral_id),
            "status": r.status.value,
            "received_at": r.received_at.isoformat(),
            "local_authority": r.local_authority.value,
            "repeat_victim": r.repeat_victim,
            "flags": (r.decision or {}).get("flags", []),
            "breached": any(route["breached"] for route in by_referral.get(r.referral_id, [])),
            "actions_outstanding": outstanding.get(r.referral_id, []),
            "routes": by_referral.get(r.referral_id, []),
        }
        for r in page
    ]
    next_cursor = (
        encode_cursor(cursors, page[-1].received_at, page[-1].referral_id)
        if len(rows) > limit
        else None
    )
    return {"items": items, "next_cursor": next_cursor}


def _worklist_route(route: route_store.StoredRoute) -> dict[str, Any]:
    """One route on the worklist: its clocks and whether one was missed."""
    return {
        "route_id": str(route.route_id),
        "service": route.service.value,
        "sub_service": route.sub_service,
        "priority": route.priority.value,
        "status": route.status.value,
        "breached": route.breached,
        **{clock: route.deadline(clock).isoformat() for clock in _ROUTE_CLOCKS},
    }


_ROUTE_CLOCKS = ("acknowledge_by", "contact_due_by", "code_deadline")
