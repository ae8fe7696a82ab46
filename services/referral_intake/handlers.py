"""Intake's use cases: one function per command or event. Each loads what it needs, asks
the domain what to do, and saves the result with its outbox events in one transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas import events, topics
from schemas.codes import ReferralStatus, RouteStatus, Service
from schemas.envelope import CloudEvent
from services.plumbing import inbox, outbox
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.referral_intake.adapters import repository as repo
from services.referral_intake.domain.lifecycle import is_open, referral_status
from services.referral_intake.domain.referral import ReferralRequest, coded_facts

SOURCE = "referral_intake"
ROUTED_CONSUMER = "referral_intake.routed"
STATUS_CONSUMER = "referral_intake.route_status"
CONTACT_FIELDS = [
    "name",
    "phone",
    "email",
    "address",
    "safe_to_contact",
    "safe_contact_notes",
    "preferred_channel",
]


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class Submitted:
    referral_id: uuid.UUID
    status: str
    replayed: bool


def _request_hash(request: ReferralRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def submit_referral(
    pool: asyncpg.Pool, request: ReferralRequest, *, submitted_by: str, idempotency_key: str | None
) -> Submitted:
    """Store the referral, its personal data and its ``referral.received.v1`` event together."""
    request_hash = _request_hash(request)
    referral_id = uuid.uuid4()
    received_at = datetime.now(UTC)
    facts = coded_facts(request, referral_id, received_at)
    for _ in range(2):  # a concurrent request with the same key can win the insert once
        try:
            async with pool.acquire() as conn, conn.transaction():
                if idempotency_key is not None:
                    existing = await repo.find_by_idempotency_key(conn, idempotency_key)
                    if existing is not None:
                        if existing["request_hash"] != request_hash:
                            raise IdempotencyConflict
                        return Submitted(existing["referral_id"], existing["status"], replayed=True)
                await repo.insert_referral(
                    conn,
                    facts,
                    submitted_by=submitted_by,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                )
                await repo.insert_vault(conn, referral_id, request.personal_data())
                await repo.add_timeline(conn, referral_id, "received", received_at)
                await outbox.add(
                    conn,
                    [
                        outgoing(
                            topic=topics.REFERRAL_RECEIVED,
                            type_=events.REFERRAL_RECEIVED,
                            source=SOURCE,
                            referral_id=referral_id,
                            data=events.ReferralReceived(facts=facts),
                        )
                    ],
                )
            return Submitted(referral_id, ReferralStatus.RECEIVED.value, replayed=False)
        except asyncpg.UniqueViolationError:
            if idempotency_key is None:
                raise
    raise IdempotencyConflict


async def _refresh_referral_status(conn: Connection, referral_id: uuid.UUID, at: datetime) -> None:
    decision = await repo.referral_decision(conn, referral_id)
    decided = ReferralStatus(decision["status"]) if decision else None
    statuses = [RouteStatus(s) for s in await repo.route_statuses(conn, referral_id)]
    held = bool(decision and decision.get("held_routes"))
    await repo.set_referral_status(
        conn, referral_id, referral_status(decided, statuses, held).value, at
    )


async def record_decision(pool: asyncpg.Pool, event: CloudEvent[events.ReferralRouted]) -> None:
    decision = event.data
    async with pool.acquire() as conn, conn.transaction():
        if not await inbox.first_time(conn, ROUTED_CONSUMER, event.id, topics.REFERRAL_ROUTED):
            return
        if not await repo.referral_exists(conn, decision.referral_id):
            return  # not ours: intake is the system of record and never published it
        await repo.store_decision(
            conn, decision.referral_id, decision.model_dump(mode="json"), decision.decided_at
        )
        await repo.add_timeline(
            conn,
            decision.referral_id,
            "routed" if decision.status is not ReferralStatus.NO_SERVICE else "no_service",
            decision.decided_at,
            detail={
                "policy_version": decision.policy_version,
                "decision_status": decision.status.value,
                "services": [r.service.value for r in decision.routes],
                "held_services": [r.service.value for r in decision.held_routes],
            },
        )
        for route in decision.routes:
            # A status report may have overtaken the decision (another topic); keep it.
            reported = await repo.latest_reported_status(conn, route.route_id)
            await repo.insert_route(
                conn,
                decision.referral_id,
                decision.decision_id,
                route,
                reported or RouteStatus.REQUESTED.value,
            )
            await repo.add_timeline(
                conn,
                decision.referral_id,
                "requested",
                route.requested_at,
                route_id=route.route_id,
                status=RouteStatus.REQUESTED.value,
                detail={"service": route.service.value, "sub_service": route.sub_service},
            )
        await _refresh_referral_status(conn, decision.referral_id, decision.decided_at)


async def record_route_status(
    pool: asyncpg.Pool, event: CloudEvent[events.RouteStatusChanged]
) -> None:
    change = event.data
    detail: dict[str, Any] = {"service": change.service.value}
    if change.rejection_reason:
        detail["rejection_reason"] = change.rejection_reason.value
    if change.contact_attempt:
        detail["contact_attempt"] = change.contact_attempt.model_dump(mode="json")
    if change.outcome:
        detail["outcome"] = change.outcome.model_dump(mode="json")
    async with pool.acquire() as conn, conn.transaction():
        if not await inbox.first_time(conn, STATUS_CONSUMER, event.id, topics.REFERRAL_STATUS):
            return
        if not await repo.referral_exists(conn, change.referral_id):
            return
        await repo.add_timeline(
            conn,
            change.referral_id,
            change.step,
            change.at,
            route_id=change.route_id,
            status=change.status.value,
            detail=detail,
        )
        if await repo.set_route_status(conn, change.route_id, change.status.value, change.at):
            await _refresh_referral_status(conn, change.referral_id, change.at)


async def disclose_contact(
    pool: asyncpg.Pool, referral_id: uuid.UUID, *, service: Service, accessor: str, purpose: str
) -> dict[str, Any]:
    """Contact details for the provider of an open route to ``service``; logged. Anything
    else is ``NotFound``, exactly as for a referral that does not exist."""
    open_statuses = [s.value for s in RouteStatus if is_open(s)]
    async with pool.acquire() as conn, conn.transaction():
        route_id = await repo.open_route_for_service(
            conn, referral_id, service.value, open_statuses
        )
        if route_id is None:
            raise NotFound
        personal = await repo.read_vault(conn, referral_id)
        contact = (personal or {}).get("contact") or {}
        fields = [f for f in CONTACT_FIELDS if contact.get(f) is not None]
        await repo.log_disclosure(
            conn,
            referral_id,
            accessor=accessor,
            service=service.value,
            fields=fields,
            purpose=purpose,
        )
    return {f: contact.get(f) for f in CONTACT_FIELDS}


def _timeline_entry(row: asyncpg.Record) -> dict[str, Any]:
    entry: dict[str, Any] = {"event": row["event"], "at": row["at"].isoformat()}
    if row["status"]:
        entry["status"] = row["status"]
    if row["route_id"]:
        entry["route_id"] = str(row["route_id"])
    entry.update(row["detail"] or {})
    if row["service"] and "service" not in entry:
        entry["service"] = row["service"]
    return entry


async def referral_view(pool: asyncpg.Pool, referral_id: uuid.UUID) -> dict[str, Any]:
    """What triage staff see: status, decision, each route with its own timeline. No
    personal data: that is read separately and logged."""
    async with pool.acquire() as conn:
        referral = await repo.load_referral(conn, referral_id)
        if referral is None:
            raise NotFound
        routes = await repo.load_routes(conn, referral_id)
        timeline = await repo.load_timeline(conn, referral_id)
    stored = referral["decision"]
    view: dict[str, Any] = {
        "referral_id": str(referral["referral_id"]),
        "status": referral["status"],
        "received_at": referral["received_at"].isoformat(),
        "enhanced_rights": stored["enhanced_rights"] if stored else None,
        "decision": None,
        "timeline": [_timeline_entry(t) for t in timeline],
    }
    if stored:
        view["decision"] = {
            "policy_version": stored["policy_version"],
            "decided_at": stored["decided_at"],
            "status": stored["status"],
            "reason": stored.get("reason"),
            "da_risk": stored.get("da_risk"),
            "enhanced_rights": stored["enhanced_rights"],
            "flags": stored.get("flags", []),
            "routes": [
                {
                    "route_id": str(r["route_id"]),
                    "service": r["service"],
                    "sub_service": r["sub_service"],
                    "priority": r["priority"],
                    "rule_ids": list(r["rule_ids"]),
                    "reason": r["reason"],
                    "consent_basis": r["consent_basis"],
                    "status": r["status"],
                    "requested_at": r["requested_at"].isoformat(),
                    "acknowledge_by": r["acknowledge_by"].isoformat(),
                    "contact_due_by": r["contact_due_by"].isoformat(),
                    "code_deadline": r["code_deadline"].isoformat(),
                    "timeline": [
                        _timeline_entry(t) for t in timeline if t["route_id"] == r["route_id"]
                    ],
                }
                for r in routes
            ],
            "held_routes": stored.get("held_routes", []),
        }
    return view
