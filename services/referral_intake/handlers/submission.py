"""Submitting a referral: store it, its personal data and its ``referral.received.v1``
event together; link a duplicate instead of creating it; flag a repeat victim."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from schemas import events, topics
from schemas.codes import ReferralStatus
from services.plumbing.events import outgoing
from services.referral_intake.adapters import repository as repo
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain.identity import (
    DUPLICATE_WINDOW_DAYS,
    REPEAT_WINDOW_DAYS,
    identity_keys,
)
from services.referral_intake.domain.referral import ReferralRequest, coded_facts
from services.referral_intake.handlers.common import SOURCE


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


@dataclass(frozen=True)
class Submitted:
    referral_id: uuid.UUID
    status: str
    replayed: bool = False
    linked: bool = False
    """A duplicate of an open referral: nothing new was created."""
    repeat_victim: bool = False


def keyed_idempotency_key(secret: bytes, idempotency_key: str) -> str:
    """What is stored of an Idempotency-Key: its HMAC under intake's identity key (the key
    itself is free text a client chose)."""
    return hmac.new(secret, b"idempotency-key|" + idempotency_key.encode(), "sha256").hexdigest()


def keyed_request_hash(secret: bytes, unkeyed: str) -> str:
    """What is stored of the body sent with an Idempotency-Key: an HMAC under intake's
    identity key of its SHA-256, so that nobody without the key can test a guess of the
    person's details against it (issue 25). Cleared when the referral is erased."""
    return hmac.new(secret, b"request|" + unkeyed.encode(), "sha256").hexdigest()


def _request_hash(request: ReferralRequest, secret: bytes) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return keyed_request_hash(secret, hashlib.sha256(canonical.encode()).hexdigest())


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
    request_hash = _request_hash(request, identity_key) if idempotency_key is not None else None
    keyed = (
        keyed_idempotency_key(identity_key, idempotency_key)
        if idempotency_key is not None
        else None
    )
    referral_id = uuid.uuid4()
    received_at = datetime.now(UTC)
    keys = identity_keys(request, identity_key)
    for _ in range(2):  # a concurrent request with the same key can win the insert once
        try:
            # No explicit transaction: each statement below is one on its own, and the new
            # referral with its vault entry, timeline entry and outbox event is one statement
            # (``insert_new_referral``). The checks before it lock nothing, so a transaction
            # around them guaranteed nothing more; it cost two round trips (BEGIN, COMMIT).
            async with pool.acquire() as conn:
                if keyed is not None:
                    existing = await repo.find_by_idempotency_key(conn, keyed)
                    if existing is not None:
                        if not hmac.compare_digest(
                            existing["request_hmac"] or "", request_hash or ""
                        ):
                            raise IdempotencyConflict
                        return Submitted(existing["referral_id"], existing["status"], replayed=True)
                duplicate, repeat = None, False
                if keys.person:
                    # One round trip for both questions (a duplicate needs a crime key too).
                    duplicate, repeat = await repo.identity_matches(
                        conn,
                        keys.person,
                        keys.crime,
                        received_at - timedelta(days=DUPLICATE_WINDOW_DAYS),
                        received_at - timedelta(days=REPEAT_WINDOW_DAYS),
                    )
                if duplicate is not None:
                    await repo.add_timeline(
                        conn,
                        duplicate["referral_id"],
                        "duplicate_linked",
                        received_at,
                        actor=submitted_by,
                        detail={"note": "the same person and crime was referred again"},
                    )
                    return Submitted(duplicate["referral_id"], duplicate["status"], linked=True)
                facts = coded_facts(request, referral_id, received_at)
                if repeat:
                    facts = facts.model_copy(
                        update={"subject": facts.subject.model_copy(update={"repeat_victim": True})}
                    )
                await repo.insert_new_referral(
                    conn,
                    facts,
                    submitted_by=submitted_by,
                    idempotency_hmac=keyed,
                    request_hmac=request_hash,
                    person_key=keys.person,
                    crime_key=keys.crime,
                    repeat_victim=repeat,
                    sealed=vault.seal(referral_id, request.personal_data()),
                    timeline_detail={"repeat_victim": True} if repeat else None,
                    event=outgoing(
                        topic=topics.REFERRAL_RECEIVED,
                        type_=events.REFERRAL_RECEIVED,
                        source=SOURCE,
                        referral_id=referral_id,
                        data=events.ReferralReceived(facts=facts),
                    ),
                )
            return Submitted(referral_id, ReferralStatus.RECEIVED.value, repeat_victim=repeat)
        except asyncpg.UniqueViolationError:
            if idempotency_key is None:
                raise
    raise IdempotencyConflict
