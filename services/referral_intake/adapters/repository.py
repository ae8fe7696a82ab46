"""SQL for intake's own tables. Every function takes the connection (and so the
transaction) it works in; handlers decide where transactions begin and end."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from schemas import topics
from schemas.codes import RejectionReason
from schemas.events import ReferralFacts, Route
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.plumbing.outbox import OutgoingEvent


async def find_by_idempotency_key(conn: Connection, keyed: str) -> asyncpg.Record | None:
    """The submission (first or later) an Idempotency-Key came with; ``keyed`` is the
    key's HMAC (``domain.identity.keyed_idempotency_key``), never the key."""
    return await conn.fetchrow(
        """SELECT s.referral_id, s.request_hmac, s.version, s.raised, s.kept_from_record,
                  s.consent_change, s.decision_id, r.status
           FROM submissions s JOIN referrals r USING (referral_id)
           WHERE s.idempotency_hmac = $1""",
        keyed,
    )


_INSERT_NEW_REFERRAL = """WITH referral AS (
       INSERT INTO referrals (referral_id, received_at, status, source, local_authority,
                              facts, submitted_by, idempotency_hmac, request_hmac,
                              updated_at, consent_status, person_key, crime_key,
                              repeat_victim, person_phone_key, born_key,
                              identity_version, last_submitted_at)
       VALUES ($1, $2, 'received', $3, $4, $5, $6, $7, $8, $2, $9, $10, $11, $12,
               $22, $23, $24, $2)
   ), first_submission AS (
       INSERT INTO submissions (referral_id, version, submitted_at, submitted_by, facts,
                                idempotency_hmac, request_hmac)
       VALUES ($1, 1, $2, $6, $5, $7, $8)
   ), vault_entry AS (
       INSERT INTO vault (referral_id, key_id, nonce, ciphertext)
       VALUES ($1, $13, $14, $15)
   ), received AS (
       INSERT INTO timeline (referral_id, event, at, detail, actor)
       VALUES ($1, 'received', $2, $16, $6)
   ), equality AS (
       INSERT INTO equality_counts AS e
              (month, local_authority, source, characteristic, category, referrals)
       SELECT date_trunc('month', $2 AT TIME ZONE 'Europe/London')::date, $4, $3,
              a.characteristic, a.category, 1
       FROM unnest($25::text[], $26::text[]) AS a (characteristic, category)
       ORDER BY a.characteristic
       ON CONFLICT (month, local_authority, source, characteristic, category)
       DO UPDATE SET referrals = e.referrals + 1
   )
   INSERT INTO outbox (event_id, topic, key, payload, headers)
   VALUES ($17, $18, $19, $20, $21)"""
"""The referral, its first submission, its vault entry, its timeline entry, its equality
counts and its event, in one statement: see ``insert_new_referral``."""


async def insert_new_referral(
    conn: Connection,
    facts: ReferralFacts,
    *,
    submitted_by: str,
    idempotency_hmac: str | None,
    request_hmac: str | None,
    person_key: str | None,
    person_phone_key: str | None,
    born_key: str | None,
    identity_version: int,
    crime_key: str | None,
    repeat_victim: bool,
    sealed: tuple[str, bytes, bytes],
    timeline_detail: dict[str, Any] | None,
    event: OutgoingEvent,
    equality: dict[str, str],
) -> None:
    """A new referral with everything that goes with it, in one statement (so one
    transaction and one round trip): the referral, its first submission, its vault entry
    (``sealed`` is the vault's key id, nonce and ciphertext), its ``received`` timeline
    entry, its ``referral.received.v1`` event in the outbox (whose trigger wakes the relay at
    commit), and its equality answers (characteristic -> code) added to the monthly counters
    (migration 020: no referral id; the answers themselves are only in the sealed entry).
    The counters are taken in one order, so concurrent submissions never deadlock.
    Four separate statements in a transaction cost six round trips, a third of a
    submission's CPU. Raises ``outbox.EventTooLarge`` (nothing written) for an event over
    the outbox's limit, as ``outbox.add`` does."""
    outbox.check_size(event)
    key_id, nonce, ciphertext = sealed
    await conn.execute(
        _INSERT_NEW_REFERRAL,
        facts.referral_id,
        facts.received_at,
        facts.source.value,
        facts.local_authority.value,
        facts.model_dump(mode="json"),
        submitted_by,
        idempotency_hmac,
        request_hmac,
        facts.consent.value,
        person_key,
        crime_key,
        repeat_victim,
        key_id,
        nonce,
        ciphertext,
        timeline_detail or {},
        event.event_id,
        event.topic,
        str(event.key),
        event.envelope,
        event.headers,
        person_phone_key,
        born_key,
        identity_version,
        list(equality),
        list(equality.values()),
    )


async def add_timeline(
    conn: Connection,
    referral_id: uuid.UUID,
    event: str,
    at: datetime,
    *,
    actor: str,
    route_id: uuid.UUID | None = None,
    status: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO timeline (referral_id, route_id, event, status, at, detail, actor)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        referral_id,
        route_id,
        event,
        status,
        at,
        detail or {},
        actor,
    )


async def referral_exists(conn: Connection, referral_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM referrals WHERE referral_id = $1 FOR UPDATE", referral_id
        )
    )


async def store_decision(
    conn: Connection, referral_id: uuid.UUID, decision: dict[str, Any], at: datetime
) -> None:
    await conn.execute(
        "UPDATE referrals SET decision = $2, updated_at = $3 WHERE referral_id = $1",
        referral_id,
        decision,
        at,
    )


async def latest_reported_status(conn: Connection, route_id: uuid.UUID) -> str | None:
    status: str | None = await conn.fetchval(
        """SELECT status FROM timeline WHERE route_id = $1 AND status IS NOT NULL
           ORDER BY id DESC LIMIT 1""",
        route_id,
    )
    return status


async def insert_route(
    conn: Connection,
    referral_id: uuid.UUID,
    decision_id: uuid.UUID,
    route: Route,
    status: str,
    trigger_event_id: uuid.UUID | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO routes (route_id, referral_id, decision_id, service, sub_service, priority,
                               rule_ids, reason, consent_basis, status, requested_at,
                               acknowledge_by, contact_due_by, code_deadline, updated_at,
                               second_acknowledge_by, trigger_event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $11, $15, $16)
           ON CONFLICT (route_id) DO NOTHING""",
        route.route_id,
        referral_id,
        decision_id,
        route.service.value,
        route.sub_service,
        route.priority.value,
        route.rule_ids,
        route.reason,
        route.consent_basis.value,
        status,
        route.requested_at,
        route.acknowledge_by,
        route.contact_due_by,
        route.code_deadline,
        route.second_acknowledge_by,
        trigger_event_id,
    )


async def set_route_status(
    conn: Connection, route_id: uuid.UUID, status: str, at: datetime
) -> uuid.UUID | None:
    """Returns the route's referral id, or None when the route is not known yet."""
    referral_id: uuid.UUID | None = await conn.fetchval(
        "UPDATE routes SET status = $2, updated_at = $3 WHERE route_id = $1 RETURNING referral_id",
        route_id,
        status,
        at,
    )
    return referral_id


async def route_statuses(conn: Connection, referral_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch("SELECT status FROM routes WHERE referral_id = $1", referral_id)
    return [r["status"] for r in rows]


async def referral_decision(conn: Connection, referral_id: uuid.UUID) -> dict[str, Any] | None:
    decision: dict[str, Any] | None = await conn.fetchval(
        "SELECT decision FROM referrals WHERE referral_id = $1", referral_id
    )
    return decision


async def set_referral_status(
    conn: Connection, referral_id: uuid.UUID, status: str, at: datetime
) -> None:
    """Also keeps ``closed_at``: when the referral last became closed or no_service (the
    retention clock runs from then)."""
    await conn.execute(
        """UPDATE referrals SET status = $2, updated_at = greatest(updated_at, $3),
               closed_at = CASE WHEN $2 IN ('closed', 'no_service')
                                THEN coalesce(closed_at, $3) ELSE NULL END
           WHERE referral_id = $1""",
        referral_id,
        status,
        at,
    )


async def routes_to_service(
    conn: Connection, referral_id: uuid.UUID, service: str
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT route_id, status, consent_basis FROM routes
               WHERE referral_id = $1 AND service = $2 ORDER BY requested_at DESC""",
            referral_id,
            service,
        )
    )


async def log_disclosure(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    accessor: str,
    service: str | None,
    fields: list[str],
    purpose: str,
    accessor_name: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO disclosure_log (referral_id, accessor, service, fields, purpose,
                                       accessor_name)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        referral_id,
        accessor,
        service,
        fields,
        purpose,
        accessor_name,
    )


async def name_person(conn: Connection, actor: str, service: str, display_name: str) -> None:
    await conn.execute(
        """INSERT INTO provider_people (actor, service, display_name) VALUES ($1, $2, $3)
           ON CONFLICT (actor) DO UPDATE SET display_name = $3, updated_at = now()
           WHERE provider_people.display_name IS DISTINCT FROM $3""",
        actor,
        service,
        display_name,
    )


async def load_referral(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT referral_id, received_at, status, facts, decision, consent_status,
                  repeat_victim FROM referrals
           WHERE referral_id = $1""",
        referral_id,
    )


async def load_routes(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM routes WHERE referral_id = $1 ORDER BY requested_at, service",
            referral_id,
        )
    )


async def load_timeline(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    """The referral's timeline in the order things happened. Steps arrive on two topics
    (the router's decision, the adapters' status reports), so a provider's ``queued`` can be
    stored before the ``requested`` it follows: order by when each happened, then by arrival."""
    return list(
        await conn.fetch(
            """SELECT t.route_id, t.event, t.status, t.at, t.detail, t.actor, r.service,
                      p.display_name AS actor_name
               FROM timeline t LEFT JOIN routes r USING (route_id)
                    LEFT JOIN provider_people p ON p.actor = t.actor
               WHERE t.referral_id = $1 ORDER BY t.at, t.id""",
            referral_id,
        )
    )


# ---- lifecycle: consent, overrides, routes ---------------------------------------------
async def lock_referral(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT referral_id, status, facts, decision, consent_status, erased_at
           FROM referrals WHERE referral_id = $1 FOR UPDATE""",
        referral_id,
    )


async def set_consent(
    conn: Connection,
    referral_id: uuid.UUID,
    facts: dict[str, Any],
    consent_status: str,
    at: datetime,
) -> None:
    await conn.execute(
        """UPDATE referrals SET facts = $2, consent_status = $3, updated_at = $4
           WHERE referral_id = $1""",
        referral_id,
        facts,
        consent_status,
        at,
    )


async def add_consent(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    status: str,
    recorded_at: datetime,
    recorded_by_note: int | None,
    actor: str,
) -> None:
    """``recorded_by_note``: the sealed note (vault) naming who recorded it."""
    await conn.execute(
        """INSERT INTO consents (referral_id, status, recorded_at, recorded_by_note, actor)
           VALUES ($1, $2, $3, $4, $5)""",
        referral_id,
        status,
        recorded_at,
        recorded_by_note,
        actor,
    )


async def add_override(
    conn: Connection,
    request_id: uuid.UUID,
    referral_id: uuid.UUID,
    *,
    action: str,
    service: str,
    sub_service: str | None,
    justification_note: int,
    supervisor: str,
) -> None:
    """``justification_note``: the sealed note (vault) holding the justification."""
    await conn.execute(
        """INSERT INTO overrides (request_id, referral_id, action, service, sub_service,
                                  justification_note, supervisor)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        request_id,
        referral_id,
        action,
        service,
        sub_service,
        justification_note,
        supervisor,
    )


async def override_by_request(conn: Connection, request_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM overrides WHERE request_id = $1", request_id)


async def routes_of(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT route_id, service, sub_service, priority, status, consent_basis, code_deadline
               FROM routes WHERE referral_id = $1 ORDER BY requested_at""",
            referral_id,
        )
    )


async def route(conn: Connection, route_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM routes WHERE route_id = $1", route_id)


async def set_second_acknowledge_by(
    conn: Connection, route_id: uuid.UUID, at: datetime | None
) -> None:
    await conn.execute(
        "UPDATE routes SET second_acknowledge_by = $2 WHERE route_id = $1", route_id, at
    )


# ---- duplicates and repeat victims ------------------------------------------------------


ON_RECORD_COLUMNS = """referral_id, person_key, person_phone_key, born_key, crime_key,
    facts->'subject'->>'role' AS role, (facts->'subject'->>'age')::integer AS age,
    status NOT IN ('closed', 'no_service') AS open, received_at, last_submitted_at"""
"""What ``handlers.identity.on_record`` reads of a referral: its keys and coded facts."""


async def people_on_record(
    conn: Connection, person_key: str | None, person_phone_key: str | None, since: datetime
) -> list[asyncpg.Record]:
    """Referrals whose subject shares a name-and-date-of-birth or a name-and-phone key,
    submitted to since ``since`` (most recent first): the candidates ``identity.match``
    decides among. Erased referrals have no keys, so they are never found."""
    return list(
        await conn.fetch(
            f"""SELECT {ON_RECORD_COLUMNS} FROM referrals
               WHERE (person_key = $1 OR person_phone_key = $2) AND last_submitted_at >= $3
               ORDER BY last_submitted_at DESC LIMIT 100""",  # noqa: S608 - a constant
            person_key,
            person_phone_key,
            since,
        )
    )


async def lock_identities(conn: Connection, keys: list[str]) -> None:
    """Transaction-scoped advisory locks on a person's keys (in one order, so that two
    submissions never wait for each other): two submissions of one person at once are
    matched one after the other. (Two first submissions of a person no one has referred
    before can still both be new: the cheap path takes no lock.) A statement of its own: a statement
    reads what was committed when it started, so the query that looks for the person must
    start after the lock is held."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 14)) FROM unnest($1::text[]) AS k",
        sorted(set(keys)),
    )


async def lock_for_resubmission(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT r.referral_id, r.status, r.facts, r.decision, r.consent_status, r.erased_at,
                  r.awaiting_decision, r.pending_reassessment, r.last_submitted_at,
                  (SELECT max(version) FROM submissions s
                   WHERE s.referral_id = r.referral_id) AS versions
           FROM referrals r WHERE r.referral_id = $1 FOR UPDATE""",
        referral_id,
    )


async def add_submission(
    conn: Connection,
    referral_id: uuid.UUID,
    version: int,
    *,
    at: datetime,
    by: str,
    facts: dict[str, Any],
    raised: list[str],
    kept_from_record: list[str],
    consent_change: str | None,
    decision_id: uuid.UUID | None,
    idempotency_hmac: str | None,
    request_hmac: str | None,
) -> None:
    """``idempotency_hmac`` and ``request_hmac``: the keyed idempotency record
    (``domain.identity``), never the key or an unkeyed hash of the body."""
    await conn.execute(
        """INSERT INTO submissions (referral_id, version, submitted_at, submitted_by, facts,
                                    raised, kept_from_record, consent_change, decision_id,
                                    idempotency_hmac, request_hmac)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        referral_id,
        version,
        at,
        by,
        facts,
        raised,
        kept_from_record,
        consent_change,
        decision_id,
        idempotency_hmac,
        request_hmac,
    )


async def set_resubmitted(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    facts: dict[str, Any],
    at: datetime,
    awaiting_decision: uuid.UUID | None,
    pending_reassessment: uuid.UUID | None,
) -> None:
    await conn.execute(
        """UPDATE referrals SET facts = $2, last_submitted_at = $3, updated_at = $3,
                                awaiting_decision = $4, pending_reassessment = $5
           WHERE referral_id = $1""",
        referral_id,
        facts,
        at,
        awaiting_decision,
        pending_reassessment,
    )


async def set_reassessment_state(
    conn: Connection,
    referral_id: uuid.UUID,
    awaiting_decision: uuid.UUID | None,
    pending_reassessment: uuid.UUID | None,
) -> None:
    await conn.execute(
        """UPDATE referrals SET awaiting_decision = $2, pending_reassessment = $3
           WHERE referral_id = $1""",
        referral_id,
        awaiting_decision,
        pending_reassessment,
    )


async def reassessment_state(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT awaiting_decision, pending_reassessment, facts FROM referrals
           WHERE referral_id = $1""",
        referral_id,
    )


async def link_referrals(
    conn: Connection, referral_id: uuid.UUID, links: list[tuple[uuid.UUID, str]], at: datetime
) -> list[uuid.UUID]:
    """Cross-link ``referral_id`` with each ``(other referral, relation)``, both ways; the
    ones that were not linked before."""
    rows = await conn.fetch(
        """WITH wanted AS (
               SELECT * FROM unnest($2::uuid[], $3::text[]) AS w (linked_id, relation)
           ), one_way AS (
               INSERT INTO referral_links (referral_id, linked_id, relation, at)
               SELECT $1, linked_id, relation, $4 FROM wanted
               ON CONFLICT DO NOTHING RETURNING linked_id
           ), other_way AS (
               INSERT INTO referral_links (referral_id, linked_id, relation, at)
               SELECT linked_id, $1, relation, $4 FROM wanted
               ON CONFLICT DO NOTHING
           )
           SELECT linked_id FROM one_way""",
        referral_id,
        [other for other, _ in links],
        [relation for _, relation in links],
        at,
    )
    return [r["linked_id"] for r in rows]


async def linked_referrals(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT l.linked_id, l.relation, l.at, r.status,
                      r.facts->'subject'->>'role' AS role
               FROM referral_links l JOIN referrals r ON r.referral_id = l.linked_id
               WHERE l.referral_id = $1 ORDER BY l.at, l.linked_id""",
            referral_id,
        )
    )


async def submissions_of(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT version, submitted_at, submitted_by, facts, raised, kept_from_record,
                      consent_change, decision_id
               FROM submissions WHERE referral_id = $1 ORDER BY version""",
            referral_id,
        )
    )


async def submission_versions_deciding(
    conn: Connection, referral_id: uuid.UUID, decision_id: uuid.UUID
) -> list[int]:
    rows = await conn.fetch(
        """SELECT version FROM submissions WHERE referral_id = $1 AND decision_id = $2
           ORDER BY version""",
        referral_id,
        decision_id,
    )
    return [r["version"] for r in rows]


async def stale_identities(conn: Connection, version: int, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """SELECT referral_id FROM referrals
           WHERE identity_version < $1 AND erased_at IS NULL
           ORDER BY referral_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        version,
        limit,
    )
    return [r["referral_id"] for r in rows]


async def set_identity(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    person_key: str | None,
    person_phone_key: str | None,
    born_key: str | None,
    crime_key: str | None,
    version: int,
) -> None:
    await conn.execute(
        """UPDATE referrals SET person_key = $2, person_phone_key = $3, born_key = $4,
                                crime_key = $5, identity_version = $6
           WHERE referral_id = $1""",
        referral_id,
        person_key,
        person_phone_key,
        born_key,
        crime_key,
        version,
    )


# ---- SLA watchdog -------------------------------------------------------------------------
async def routes_past(
    conn: Connection,
    deadline_column: str,
    statuses: list[str],
    clock: str,
    now: datetime,
    limit: int,
) -> list[asyncpg.Record]:
    """Routes in ``statuses`` whose ``deadline_column`` has passed and whose ``clock`` breach
    is not yet recorded."""
    assert deadline_column in {
        "acknowledge_by",
        "second_acknowledge_by",
        "contact_due_by",
        "code_deadline",
    }
    return list(
        await conn.fetch(
            f"""SELECT r.* FROM routes r
                WHERE r.status = ANY($1::text[]) AND r.{deadline_column} <= $2
                  AND NOT EXISTS (SELECT 1 FROM sla_breaches b
                                  WHERE b.route_id = r.route_id AND b.clock = $3)
                ORDER BY r.{deadline_column} LIMIT $4""",  # noqa: S608 - one of four names
            statuses,
            now,
            clock,
            limit,
        )
    )


async def record_breach(
    conn: Connection, route_id: uuid.UUID, clock: str, due_at: datetime, detected_at: datetime
) -> bool:
    """False when this breach was recorded before: each breach is reported once."""
    return bool(
        await conn.fetchval(
            """INSERT INTO sla_breaches (route_id, clock, due_at, detected_at)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
            route_id,
            clock,
            due_at,
            detected_at,
        )
    )


async def mark_breached(
    conn: Connection, route_id: uuid.UUID, status: str | None, at: datetime
) -> None:
    await conn.execute(
        """UPDATE routes SET breached = true, status = coalesce($2, status), updated_at = $3
           WHERE route_id = $1""",
        route_id,
        status,
        at,
    )


# ---- worklist -------------------------------------------------------------------------------
async def worklist(
    conn: Connection,
    *,
    status: str | None,
    service: str | None,
    local_authority: str | None,
    breached: bool | None,
    flag: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    action_required: bool | None = None,
) -> list[asyncpg.Record]:
    """``action_required``: whether the referral has a statutory flag (``flag``, when given)
    that no supervisor has yet recorded as done (migration 040)."""
    terminal = ["completed", "closed", "rejected", "cancelled", "failed"]
    return list(
        await conn.fetch(
            """SELECT f.referral_id, f.status, f.received_at, f.local_authority, f.decision,
                      f.repeat_victim
               FROM referrals f
               WHERE ($1::text IS NULL OR f.status = $1)
                 AND ($2::text IS NULL OR EXISTS (
                       SELECT 1 FROM routes r
                       WHERE r.referral_id = f.referral_id AND r.service = $2))
                 AND ($3::text IS NULL OR f.local_authority = $3)
                 AND ($4::boolean IS NULL OR $4 = EXISTS (
                       SELECT 1 FROM routes r WHERE r.referral_id = f.referral_id AND r.breached
                         AND NOT r.status = ANY($8::text[])))
                 AND ($5::text IS NULL OR f.decision->'flags' ? $5)
                 AND ($6::timestamptz IS NULL OR (f.received_at, f.referral_id) > ($6, $7))
                 AND ($10::boolean IS NULL OR $10 = EXISTS (
                       SELECT 1 FROM statutory_referrals s
                       WHERE s.referral_id = f.referral_id
                         AND s.made_at IS NULL AND s.withdrawn_at IS NULL
                         AND ($5::text IS NULL OR s.flag = $5)))
               ORDER BY f.received_at, f.referral_id
               LIMIT $9""",
            status,
            service,
            local_authority,
            breached,
            flag,
            after[0] if after else None,
            after[1] if after else None,
            terminal,
            limit,
            action_required,
        )
    )


async def routes_for(conn: Connection, referral_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT referral_id, route_id, service, sub_service, priority, status, breached,
                      acknowledge_by, contact_due_by, code_deadline
               FROM routes WHERE referral_id = ANY($1::uuid[]) ORDER BY requested_at""",
            referral_ids,
        )
    )


async def latest_rejection_reason(conn: Connection, route_id: uuid.UUID) -> RejectionReason | None:
    reason: str | None = await conn.fetchval(
        """SELECT detail->>'rejection_reason' FROM timeline
           WHERE route_id = $1 AND status = 'rejected' ORDER BY id DESC LIMIT 1""",
        route_id,
    )
    return RejectionReason(reason) if reason else None


async def lock_route(conn: Connection, route_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM routes WHERE route_id = $1 FOR UPDATE", route_id)


# ---- reconciliation -------------------------------------------------------------------------
async def stuck_unrouted(
    conn: Connection, older_than: datetime, limit: int
) -> list[asyncpg.Record]:
    """Referrals received before ``older_than`` that no decision has reached."""
    return list(
        await conn.fetch(
            """SELECT f.referral_id, o.event_id FROM referrals f
               JOIN outbox o ON o.topic = $3 AND o.key = f.referral_id::text
               WHERE f.status = 'received' AND f.received_at < $1
               ORDER BY f.received_at LIMIT $2""",
            older_than,
            limit,
            topics.REFERRAL_RECEIVED,
        )
    )


async def stuck_undelivered(
    conn: Connection, older_than: datetime, limit: int
) -> list[asyncpg.Record]:
    """Routes requested before ``older_than`` whose adapter never reported having them."""
    return list(
        await conn.fetch(
            """SELECT r.route_id, r.referral_id, r.trigger_event_id FROM routes r
               WHERE r.status = 'requested' AND r.requested_at < $1
                 AND r.trigger_event_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM timeline t
                                 WHERE t.route_id = r.route_id AND t.event = 'queued')
               ORDER BY r.requested_at LIMIT $2""",
            older_than,
            limit,
        )
    )


async def reconciliation_attempts(
    conn: Connection, subject: uuid.UUID, stage: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT attempts, last_at FROM reconciliation
           WHERE subject = $1 AND stage = $2 FOR UPDATE""",
        subject,
        stage,
    )


async def record_reconciliation(
    conn: Connection, subject: uuid.UUID, stage: str, at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO reconciliation (subject, stage, attempts, last_at) VALUES ($1, $2, 1, $3)
           ON CONFLICT (subject, stage) DO UPDATE
           SET attempts = reconciliation.attempts + 1, last_at = $3""",
        subject,
        stage,
        at,
    )


# ---- privacy --------------------------------------------------------------------------------
async def disclosure_log(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT at, accessor, accessor_name, service, fields, purpose FROM disclosure_log
               WHERE referral_id = $1 ORDER BY at, id""",
            referral_id,
        )
    )


async def mark_erased(
    conn: Connection, referral_id: uuid.UUID, reason: str, actor: str, at: datetime
) -> None:
    """The personal data is gone: so are the keyed hashes that matched the person, the
    links to their other referrals (which said that both were about one person), and the
    idempotency record of every submission (a re-sent body must not find the erased
    referral, nor a changed one tell that it differs)."""
    await conn.execute(
        """UPDATE referrals SET erased_at = $2, person_key = NULL, crime_key = NULL,
                                person_phone_key = NULL, born_key = NULL,
                                idempotency_key = NULL, request_hash = NULL,
                                idempotency_hmac = NULL, request_hmac = NULL
           WHERE referral_id = $1""",
        referral_id,
        at,
    )
    await conn.execute(
        """UPDATE submissions SET idempotency_key = NULL, request_hash = NULL,
                                  idempotency_hmac = NULL, request_hmac = NULL
           WHERE referral_id = $1""",
        referral_id,
    )
    await conn.execute(
        "DELETE FROM referral_links WHERE referral_id = $1 OR linked_id = $1", referral_id
    )
    await conn.execute(
        "INSERT INTO erasures (referral_id, reason, actor, at) VALUES ($1, $2, $3, $4)",
        referral_id,
        reason,
        actor,
        at,
    )


async def due_for_erasure(conn: Connection, closed_before: datetime, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """SELECT referral_id FROM referrals
           WHERE closed_at < $1 AND erased_at IS NULL ORDER BY closed_at LIMIT $2""",
        closed_before,
        limit,
    )
    return [r["referral_id"] for r in rows]


# ---- changes of contact details, subject access ---------------------------------------------
async def contact_version(conn: Connection, referral_id: uuid.UUID) -> int:
    """The version of the referral's contact details (1: as submitted)."""
    return int(
        await conn.fetchval(
            "SELECT contact_version FROM referrals WHERE referral_id = $1", referral_id
        )
        or 1
    )


async def set_contact_changed(
    conn: Connection, referral_id: uuid.UUID, facts: dict[str, Any], version: int, at: datetime
) -> None:
    await conn.execute(
        """UPDATE referrals SET facts = $2, contact_version = $3, updated_at = $4
           WHERE referral_id = $1""",
        referral_id,
        facts,
        version,
        at,
    )


async def erasure_of(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT reason, actor, at FROM erasures WHERE referral_id = $1 ORDER BY at LIMIT 1",
        referral_id,
    )


async def referrals_of_person(
    conn: Connection, person_key: str | None, person_phone_key: str | None
) -> list[asyncpg.Record]:
    """Every referral whose subject shares a name-and-date-of-birth or a name-and-phone key,
    whenever it was submitted (``identity.same_person`` decides among them)."""
    if person_key is None and person_phone_key is None:
        return []
    return list(
        await conn.fetch(
            f"""SELECT {ON_RECORD_COLUMNS} FROM referrals
               WHERE person_key = $1 OR person_phone_key = $2 ORDER BY received_at""",  # noqa: S608
            person_key,
            person_phone_key,
        )
    )


async def identity_of(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ON_RECORD_COLUMNS} FROM referrals WHERE referral_id = $1",  # noqa: S608
        referral_id,
    )


async def status_changes(
    conn: Connection,
    *,
    submitted_by: str,
    after_id: int,
    settled_before: datetime,
    limit: int,
) -> list[asyncpg.Record]:
    """Timeline entries of the referrals ``submitted_by`` submitted, after ``after_id``, in
    the order they were written, only those written before ``settled_before``."""
    return list(
        await conn.fetch(
            """SELECT t.id, t.referral_id, t.route_id, t.event, t.status, t.at, t.detail
               FROM timeline t JOIN referrals r USING (referral_id)
               WHERE r.submitted_by = $1 AND t.id > $2 AND t.recorded_at < $3
               ORDER BY t.id
               LIMIT $4""",
            submitted_by,
            after_id,
            settled_before,
            limit,
        )
    )
