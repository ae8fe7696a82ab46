"""Submitting a referral: a new referral (stored with its personal data and its
``referral.received.v1`` event together), or a new submission of an open one.

What makes two submissions one referral is in ``domain/identity.py`` (the same data
subject, in the same role, for the same crime, still open); how the second one's facts join
the first's in ``domain/resubmission.py``. A resubmission is a new assessment: its facts
are kept as a new version, a consent change in it is recorded as one, and when it changes
the combined picture the router decides again (``referral.reassess.v1``, trigger
``resubmitted``), with a decision id given here so that the answer can name it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from schemas import events
from schemas.codes import ReferralStatus, Trigger
from schemas.events import ReferralFacts
from schemas.refusals import Refused
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.plumbing.outbox import OutgoingEvent
from services.referral_intake.adapters import identities as identity_store
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import routes as route_store
from services.referral_intake.adapters import submissions as submission_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain import identity
from services.referral_intake.domain.identity import IdentityKeys, Match, OnRecord
from services.referral_intake.domain.referral import ReferralRequest, coded_facts
from services.referral_intake.domain.resubmission import Combined, combine, merge_personal
from services.referral_intake.handlers import consent
from services.referral_intake.handlers.common import SOURCE, reassessment

RESUBMITTED = Trigger.RESUBMITTED
AWAIT_LIMIT = timedelta(minutes=10)
"""How long a resubmission's re-assessment waits for the one before it to be decided."""
log = logging.getLogger(__name__)


class IdempotencyConflict(Refused):
    """The Idempotency-Key was used before with a different body."""

    says = "This Idempotency-Key was already used with a different referral; nothing was stored."


@dataclass(frozen=True)
class Submitted:
    referral_id: uuid.UUID
    status: str
    replayed: bool = False
    linked: bool = False
    """A new submission of an open referral: no new referral was created."""
    repeat_victim: bool = False
    version: int = 1
    reassessed: bool = False
    decision_id: uuid.UUID | None = None
    raised: tuple[str, ...] = ()
    kept_from_record: tuple[str, ...] = ()
    consent_change: str | None = None
    cross_linked: tuple[tuple[uuid.UUID, str], ...] = field(default=())
    """Other referrals of the same person: (referral id, relation)."""


@dataclass(frozen=True)
class _Submission:
    """One submission as it arrived, with what is worked out from it before the database is
    asked anything: its coded facts, its identity keys, its idempotency records (HMACs)."""

    request: ReferralRequest
    facts: ReferralFacts
    keys: IdentityKeys
    submitted_by: str
    idempotency_hmac: str | None
    request_hmac: str | None
    vault: Vault
    at: datetime


def _request_hash(request: ReferralRequest, secret: bytes) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return identity.keyed_request_hash(secret, hashlib.sha256(canonical.encode()).hexdigest())


def _relation(keys: IdentityKeys, other: OnRecord) -> str:
    return (
        "same_crime"
        if keys.crime is not None and keys.crime == other.keys.crime
        else ("other_crime")
    )


async def submit_referral(
    pool: asyncpg.Pool,
    request: ReferralRequest,
    *,
    submitted_by: str,
    idempotency_key: str | None,
    identity_key: bytes,
    vault: Vault,
) -> Submitted:
    # Only an Idempotency-Key is ever compared with the request it came with.
    # Both only as HMACs under intake's identity key (issue 25, finding 4).
    now = datetime.now(UTC)
    submission = _Submission(
        request=request,
        facts=coded_facts(request, uuid.uuid4(), now),
        keys=identity.identity_keys(request, identity_key),
        submitted_by=submitted_by,
        idempotency_hmac=(
            identity.keyed_idempotency_key(identity_key, idempotency_key)
            if idempotency_key is not None
            else None
        ),
        request_hmac=(
            _request_hash(request, identity_key) if idempotency_key is not None else None
        ),
        vault=vault,
        at=now,
    )
    # Requests with one key wait for each other (``_submit``); the unique index on the keyed
    # key stays the backstop (an intake that takes no lock, mid-upgrade, may win the insert).
    for _ in range(2):
        try:
            async with pool.acquire() as conn:
                return await _submit(conn, submission)
        except asyncpg.UniqueViolationError:
            if idempotency_key is None:
                raise
    raise IdempotencyConflict


async def _submit(conn: Connection, submission: _Submission) -> Submitted:
    """A replay of the same submission, a new submission of the person's open referral, or
    a new referral, whichever it is."""
    keys = submission.keys
    held = [k for k in (submission.idempotency_hmac, keys.person, keys.person_phone) if k]
    if not held:
        # Nobody to match and nothing to replay: one statement, no transaction to pay for.
        return await _new_referral(conn, submission, _NO_MATCH)
    async with conn.transaction():
        # Submissions of one person, or with one Idempotency-Key, are decided one after the
        # other, the first ones too: each looks for the others only once it holds the lock,
        # so the second of two sent at the same moment finds the first on record.
        await identity_store.lock_identities(conn, held)
        if submission.idempotency_hmac is not None:
            existing = await submission_store.find_by_idempotency_key(
                conn, submission.idempotency_hmac
            )
            if existing is not None:
                if not hmac.compare_digest(
                    existing.request_hmac or "", submission.request_hmac or ""
                ):
                    raise IdempotencyConflict
                return _replayed(existing)
        if not keys.identifies:
            return await _new_referral(conn, submission, _NO_MATCH)
        return await _matched(conn, submission)


async def _matched(conn: Connection, submission: _Submission) -> Submitted:
    """A new submission of the person's open referral, or a new referral (linked to their
    others): decided under the lock on their keys."""
    since = submission.at - timedelta(days=identity.REPEAT_WINDOW_DAYS)
    keys = submission.keys
    rows = await identity_store.people_on_record(conn, keys.person, keys.person_phone, since)
    found = identity.match(
        keys, submission.request.subject.role, submission.facts.subject.age, rows, submission.at
    )
    if found.same_referral is not None:
        joined = await _resubmission(conn, found, submission)
        if joined is not None:
            return joined
    return await _new_referral(conn, submission, found)


_NO_MATCH = Match(None, (), False)


def _replayed(row: submission_store.KeyedSubmission) -> Submitted:
    return Submitted(
        row.referral_id,
        row.status,
        replayed=True,
        linked=row.version > 1,
        version=row.version,
        reassessed=row.decision_id is not None,
        decision_id=row.decision_id,
        raised=row.raised,
        kept_from_record=row.kept_from_record,
        consent_change=row.consent_change,
    )


async def _new_referral(conn: Connection, submission: _Submission, found: Match) -> Submitted:
    request, facts, keys = submission.request, submission.facts, submission.keys
    submitted_by = submission.submitted_by
    referral_id = facts.referral_id
    if found.repeat_victim:
        facts = facts.model_copy(
            update={"subject": facts.subject.model_copy(update={"repeat_victim": True})}
        )
    links = tuple((other.referral_id, _relation(keys, other)) for other in found.same_person)
    detail: dict[str, Any] = {}
    if found.repeat_victim:
        detail["repeat_victim"] = True
    if links:
        detail["linked_referrals"] = [str(other) for other, _ in links]
    await referral_store.insert_new(
        conn,
        facts,
        submitted_by=submitted_by,
        idempotency_hmac=submission.idempotency_hmac,
        request_hmac=submission.request_hmac,
        person_key=keys.person,
        person_phone_key=keys.person_phone,
        born_key=keys.born,
        identity_version=identity.IDENTITY_VERSION,
        crime_key=keys.crime,
        repeat_victim=found.repeat_victim,
        sealed=submission.vault.seal(referral_id, request.personal_data()),
        timeline_detail=detail or None,
        event=outgoing(
            events.ReferralReceived(facts=facts), source=SOURCE, referral_id=referral_id
        ),
        equality=request.equality_answers(),
    )
    if links:
        await _cross_link(conn, referral_id, links, facts.received_at, submitted_by)
    return Submitted(
        referral_id,
        ReferralStatus.RECEIVED.value,
        repeat_victim=found.repeat_victim,
        cross_linked=links,
    )


async def _cross_link(
    conn: Connection,
    referral_id: uuid.UUID,
    links: tuple[tuple[uuid.UUID, str], ...],
    at: datetime,
    actor: str,
) -> None:
    """Each referral's timeline says which other referral of the same person it is linked
    to and how (ids and codes only)."""
    for other in await identity_store.link_referrals(conn, referral_id, list(links), at):
        relation = dict(links)[other]
        for one, two in ((referral_id, other), (other, referral_id)):
            await timeline_store.add(
                conn,
                one,
                "linked",
                at,
                actor=actor,
                detail={"linked_referral": str(two), "relation": relation},
            )


async def _resubmission(
    conn: Connection, found: Match, submission: _Submission
) -> Submitted | None:
    """The submission joins the open referral: ``None`` when, under its lock, the referral
    turns out to have closed meanwhile (the submission is then a new referral)."""
    assert found.same_referral is not None
    referral_id = found.same_referral.referral_id
    referral = await submission_store.lock_for_resubmission(conn, referral_id)
    if referral is None or referral.erased_at is not None:
        return None
    if referral.status in (ReferralStatus.CLOSED, ReferralStatus.NO_SERVICE):
        return None
    recorded = ReferralFacts.model_validate(referral.facts)
    own = submission.facts.model_copy(
        update={"referral_id": referral_id, "received_at": recorded.received_at}
    )
    combined = combine(recorded, own)
    version = (referral.versions or 1) + 1
    facts = await _with_consent_change(conn, submission, referral_id, combined, version)
    decision_id, awaiting, pending = await _reassess_if_changed(
        conn, referral, combined, facts, submission.at
    )
    await submission_store.set_resubmitted(
        conn,
        referral_id,
        facts=facts,
        at=submission.at,
        awaiting_decision=awaiting,
        pending_reassessment=pending,
    )
    await _record_submission(conn, submission, referral_id, version, own, combined, decision_id)
    others = tuple(
        (other.referral_id, _relation(submission.keys, other)) for other in found.same_person
    )
    if others:
        await _cross_link(conn, referral_id, others, submission.at, submission.submitted_by)
    return Submitted(
        referral_id,
        referral.status,
        linked=True,
        version=version,
        reassessed=decision_id is not None,
        decision_id=decision_id,
        raised=combined.raised,
        kept_from_record=combined.kept_from_record,
        consent_change=combined.consent_change,
        cross_linked=others,
    )


async def _with_consent_change(
    conn: Connection,
    submission: _Submission,
    referral_id: uuid.UUID,
    combined: Combined,
    version: int,
) -> dict[str, Any]:
    """The combined facts, after recording the consent change the submission makes, if any
    (as ``POST /consent`` would)."""
    facts = combined.facts.model_dump(mode="json")
    if combined.consent_change is None:
        return facts
    return await consent.record_change(
        conn,
        referral_id,
        facts,
        submission.vault,
        status=combined.consent_change,
        recorded_at=submission.request.consent.recorded_at or submission.at,
        recorded_by=submission.request.consent.recorded_by,
        actor=submission.submitted_by,
        at=submission.at,
        detail={"via": "resubmission", "submission": version},
    )


async def _record_submission(
    conn: Connection,
    submission: _Submission,
    referral_id: uuid.UUID,
    version: int,
    own: ReferralFacts,
    combined: Combined,
    decision_id: uuid.UUID | None,
) -> None:
    """The submission kept as a version of its own (coded facts, what it raised and what
    the record kept), its personal data merged into the vault, and its timeline entry."""
    now, by = submission.at, submission.submitted_by
    await submission_store.add_submission(
        conn,
        referral_id,
        version,
        at=now,
        by=by,
        facts=own.model_dump(mode="json"),
        raised=list(combined.raised),
        kept_from_record=list(combined.kept_from_record),
        consent_change=combined.consent_change,
        decision_id=decision_id,
        idempotency_hmac=submission.idempotency_hmac,
        request_hmac=submission.request_hmac,
    )
    vault = submission.vault
    personal = await vault.read(conn, referral_id) or {}
    await vault.write(
        conn,
        referral_id,
        merge_personal(
            personal, submission.request.personal_data(), version=version, at=now, by=by
        ),
    )
    await timeline_store.add(
        conn,
        referral_id,
        RESUBMITTED.value,
        now,
        actor=by,
        detail={
            "submission": version,
            "raised": list(combined.raised),
            "kept_from_record": list(combined.kept_from_record),
            **({"consent": combined.consent_change} if combined.consent_change else {}),
            **({"decision_id": str(decision_id)} if decision_id else {}),
        },
    )


async def _reassess_if_changed(
    conn: Connection,
    referral: submission_store.ReferralToResubmit,
    combined: Combined,
    facts: dict[str, Any],
    now: datetime,
) -> tuple[uuid.UUID | None, uuid.UUID | None, uuid.UUID | None]:
    """The decision id a changed picture leads to, and the referral's re-assessment state
    after it (the decision awaited, the one pending). The router decides only once the
    referral's latest decision is in: it must see the routes as they stand, or it would
    dispatch again what an earlier decision already dispatched."""
    awaiting, pending = referral.awaiting_decision, referral.pending_reassessment
    if not combined.changed:
        return None, awaiting, pending
    if awaiting is not None and now - referral.last_submitted_at > AWAIT_LIMIT:
        # The decision awaited never came (its request dead-lettered, say): deciding again
        # now, at the risk of a route sent twice, beats never deciding on this submission.
        log.warning("a resubmission's decision never arrived; deciding again now")
        awaiting = None
    if referral.decision is None or awaiting is not None:
        decision_id = pending or uuid.uuid4()  # one pending decision covers every submission
        return decision_id, awaiting, decision_id
    decision_id = uuid.uuid4()
    await outbox.add(
        conn,
        [
            await reassessment(
                conn, referral.referral_id, facts, RESUBMITTED, decision_id=decision_id
            )
        ],
    )
    return decision_id, decision_id, None


async def pending_reassessment(conn: Connection, referral_id: uuid.UUID) -> OutgoingEvent | None:
    """After a decision is recorded: a resubmission's re-assessment that waited for it, to
    send now against the routes as they now stand (``None`` when none waits). It is no
    longer pending once this returns: the caller, the consumer of the decision, publishes it
    as caused by that decision, so that a re-delivered decision re-publishes it (same id)."""
    state = await submission_store.reassessment_state(conn, referral_id)
    if state is None or state.pending_reassessment is None:
        return None
    decision_id = state.pending_reassessment
    await submission_store.set_reassessment_state(conn, referral_id, decision_id, None)
    return await reassessment(conn, referral_id, state.facts, RESUBMITTED, decision_id=decision_id)


async def decision_after(
    pool: asyncpg.Pool, referral_id: uuid.UUID, decision_id: uuid.UUID, *, wait_seconds: float
) -> dict[str, Any] | None:
    """The decision ``decision_id`` as recorded, once it is (polled for up to
    ``wait_seconds``); ``None`` if it has not arrived by then."""
    deadline = time.monotonic() + wait_seconds
    while True:
        async with pool.acquire() as conn:
            stored: dict[str, Any] | None = await referral_store.decision(conn, referral_id)
        if stored is not None and stored.get("decision_id") == str(decision_id):
            return stored
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.1)


async def decision_summary(
    pool: asyncpg.Pool, referral_id: uuid.UUID, stored: dict[str, Any]
) -> dict[str, Any]:
    """What a re-assessment decided, for the answer: routes dispatched (with priorities),
    kept and ended (with why), flags."""
    async with pool.acquire() as conn:
        routes = {r.route_id: r for r in await route_store.read(conn, referral_id=referral_id)}
    kept = [routes[uuid.UUID(str(i))] for i in stored.get("kept_route_ids", [])]
    return {
        "decision_id": stored["decision_id"],
        "status": stored["status"],
        "policy_version": stored["policy_version"],
        "da_risk": stored.get("da_risk"),
        "flags": stored.get("flags", []),
        "dispatched": [
            {"service": r["service"], "sub_service": r["sub_service"], "priority": r["priority"]}
            for r in stored.get("routes", [])
        ],
        "kept": [
            {"service": r.service.value, "sub_service": r.sub_service, "priority": r.priority.value}
            for r in kept
        ],
        "ended": [
            {"service": r["service"], "reason": r["reason"]}
            for r in stored.get("cancelled_routes", [])
        ],
        "held_routes": [
            {"service": r["service"], "sub_service": r["sub_service"]}
            for r in stored.get("held_routes", [])
        ],
    }
