"""Who each referral is about, as matching sees it: the keyed hashes stored beside each
referral (``domain.identity``; never a name, phone or date of birth), and the cross-links
between one person's referrals (table ``referral_links``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from schemas.codes import ReferralStatus, Role
from services.plumbing.db import Connection
from services.referral_intake.adapters import referrals
from services.referral_intake.adapters.typed_rows import fetch_all
from services.referral_intake.domain.identity import IdentityKeys, OnRecord

ON_RECORD_COLUMNS = """referral_id, person_key, person_phone_key, born_key, crime_key,
    facts->'subject'->>'role' AS role, (facts->'subject'->>'age')::integer AS age,
    status NOT IN ('closed', 'no_service') AS open, received_at, last_submitted_at"""
"""What ``OnRecord`` reads of a referral: its keys and coded facts."""


def _on_record_of(row: asyncpg.Record) -> OnRecord:
    return OnRecord(
        referral_id=row["referral_id"],
        keys=IdentityKeys(
            person=row["person_key"],
            person_phone=row["person_phone_key"],
            born=row["born_key"],
            crime=row["crime_key"],
        ),
        role=Role(row["role"]),
        age=row["age"],
        open=row["open"],
        received_at=row["received_at"],
        last_submitted_at=row["last_submitted_at"],
    )


@dataclass(frozen=True)
class LinkedReferral:
    """Another referral about the same person, cross-linked at ``at``: its ``relation`` to
    this one, its status, and its subject's role in it."""

    linked_id: uuid.UUID
    relation: str
    at: datetime
    status: ReferralStatus
    role: str | None


async def _on_record(conn: Connection, condition: str, *args: object) -> list[OnRecord]:
    """The referrals ``condition`` (SQL, a constant of this module) selects, as matching
    sees them."""
    rows = await conn.fetch(f"SELECT {ON_RECORD_COLUMNS} FROM referrals {condition}", *args)  # noqa: S608 - constants
    return [_on_record_of(row) for row in rows]


async def people_on_record(
    conn: Connection, person_key: str | None, person_phone_key: str | None, since: datetime
) -> list[OnRecord]:
    """Referrals whose subject shares a name-and-date-of-birth or a name-and-phone key,
    submitted to since ``since`` (most recent first, at most 100): the candidates
    ``identity.match`` decides among. Erased referrals have no keys, so they are never
    found."""
    return await _on_record(
        conn,
        """WHERE (person_key = $1 OR person_phone_key = $2) AND last_submitted_at >= $3
           ORDER BY last_submitted_at DESC LIMIT 100""",
        person_key,
        person_phone_key,
        since,
    )


async def lock_identities(conn: Connection, keys: list[str]) -> None:
    """Transaction-scoped advisory locks on ``keys``: keyed hashes (a person's identity
    keys, a keyed Idempotency-Key), never personal data. Two submissions holding one of the
    same keys are decided one after the other, the first two of a person nobody referred
    before included. Taken in one order (of the lock numbers), so that two submissions never
    wait for each other. A statement of its own: a statement reads what was committed when
    it started, so the query that looks for the person must start after the lock is held."""
    await conn.execute(
        """SELECT pg_advisory_xact_lock(lock) FROM (
               SELECT DISTINCT hashtextextended(k, 14) AS lock FROM unnest($1::text[]) AS k
               ORDER BY lock
           ) AS locks""",
        keys,
    )


async def referrals_of_person(
    conn: Connection, person_key: str | None, person_phone_key: str | None
) -> list[OnRecord]:
    """Every referral whose subject shares a name-and-date-of-birth or a name-and-phone key,
    whenever it was submitted, oldest first (``identity.same_person`` decides among them)."""
    if person_key is None and person_phone_key is None:
        return []
    return await _on_record(
        conn,
        "WHERE person_key = $1 OR person_phone_key = $2 ORDER BY received_at",
        person_key,
        person_phone_key,
    )


async def identity_of(conn: Connection, referral_id: uuid.UUID) -> OnRecord | None:
    """The referral as matching sees it, or None."""
    found = await _on_record(conn, "WHERE referral_id = $1", referral_id)
    return found[0] if found else None


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
    conn: Connection, referral_id: uuid.UUID, keys: IdentityKeys, version: int
) -> None:
    """Store ``keys`` beside the referral, made by normalisation ``version``."""
    await referrals.update(
        conn,
        referral_id,
        person_key=keys.person,
        person_phone_key=keys.person_phone,
        born_key=keys.born,
        crime_key=keys.crime,
        identity_version=version,
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


async def linked_referrals(conn: Connection, referral_id: uuid.UUID) -> list[LinkedReferral]:
    """The referrals cross-linked with this one, in the order they were linked."""
    return await fetch_all(
        conn,
        LinkedReferral,
        """SELECT l.linked_id, l.relation, l.at, r.status,
                  r.facts->'subject'->>'role' AS role
           FROM referral_links l JOIN referrals r ON r.referral_id = l.linked_id
           WHERE l.referral_id = $1 ORDER BY l.at, l.linked_id""",
        referral_id,
    )
