"""A subject access request (UK GDPR Article 15; DPA 2018 s.45 for law enforcement
processing): everything the hub holds about the person of one referral, across every
referral matched to them.

The person's referrals are the referral asked about, those whose identity keys say it is
the same person (``identity.same_person``, as matching at submission does) and those
cross-linked to it. For each: the personal data in the vault (the contact details, their
earlier versions, the other personal fields, the notes sealed beside them), the coded facts,
the decision with its reasons, each route with its history and outcome, the statutory
referrals, and the disclosure log (who read the person's details, when and why). A referral
whose personal data was erased says so, when and why, and what remains.

Every export is itself a disclosure: one row per referral in the disclosure log (purpose
``subject_access``, the supervisor who exported it), written before the log is read, so the
export lists itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas.refusals import NotFound
from services.plumbing.db import Connection
from services.referral_intake.adapters import disclosures as disclosure_store
from services.referral_intake.adapters import erasures as erasure_store
from services.referral_intake.adapters import identities as identity_store
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain import identity
from services.referral_intake.handlers import views

PURPOSE = "subject_access"
WHAT_REMAINS_AFTER_ERASURE = (
    "The personal data (name, contact details, date of birth, crime reference, equality "
    "monitoring answers and every note written about the person) was erased. What remains "
    "is coded: the facts the policy read (age in years, crime types, needs, risk figures), "
    "the decisions and their reasons, each route's history and outcome, and the disclosure "
    "log of who read the details before they were erased."
)
SAME_PERSON = "the same person (matched by name with date of birth or phone, or cross-linked)"


async def _referrals_of_the_person(conn: Connection, referral_id: uuid.UUID) -> list[uuid.UUID]:
    """The referral asked about first, then the person's others, oldest first."""
    asked = await identity_store.identity_of(conn, referral_id)
    if asked is None:
        raise NotFound
    found: dict[uuid.UUID, datetime] = {}
    for other in await identity_store.referrals_of_person(
        conn, asked.keys.person, asked.keys.person_phone
    ):
        if other.referral_id != referral_id and identity.same_person(
            asked.keys, asked.age, other.keys, other.age
        ):
            found[other.referral_id] = other.received_at
    for link in await identity_store.linked_referrals(conn, referral_id):
        found.setdefault(link.linked_id, link.at)
    return [referral_id, *sorted(found, key=lambda i: (found[i], str(i)))]


def _personal_fields(personal: dict[str, Any]) -> list[str]:
    fields = {f"contact.{k}" for k, v in (personal.get("contact") or {}).items() if v is not None}
    fields |= {
        k
        for k, v in personal.items()
        if v is not None and k not in ("contact", "history", "contact_versions")
    }
    if personal.get("contact_versions"):
        fields.add("contact_versions")
    if personal.get("history"):
        fields.add("submissions")
    return sorted(fields)


async def export(
    pool: asyncpg.Pool, vault: Vault, referral_id: uuid.UUID, *, accessor: str
) -> dict[str, Any]:
    """The export (JSON-ready). Raises ``NotFound`` for an unknown referral."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        ids = await _referrals_of_the_person(conn, referral_id)
        sections = [await _read_and_log(conn, vault, one, accessor) for one in ids]
    referrals = [await _section(pool, vault, referral_id, *section) for section in sections]
    return {
        "referral_id": str(referral_id),
        "exported_at": now.isoformat(),
        "exported_by": accessor,
        "referrals": referrals,
        "about": (
            "Everything the referral hub holds about the person of this referral, across "
            "every referral matched to them. This export is recorded in each referral's "
            "disclosure log."
        ),
    }


async def _read_and_log(
    conn: Connection, vault: Vault, one: uuid.UUID, accessor: str
) -> tuple[
    uuid.UUID,
    dict[str, Any] | None,
    referral_store.Referral,
    erasure_store.Erasure | None,
    list[disclosure_store.Disclosure],
]:
    """One referral's vault entry, record, erasure and disclosure log, the export's own read
    logged first (so that the log it returns lists it)."""
    personal = await vault.read(conn, one)
    await disclosure_store.log_disclosure(
        conn,
        one,
        accessor=accessor,
        service=None,
        fields=_personal_fields(personal) if personal else [],
        purpose=PURPOSE,
    )
    referral = await referral_store.get(conn, one)
    assert referral is not None
    erasure = await erasure_store.erasure_of(conn, one)
    disclosures = await disclosure_store.disclosure_log(conn, one)
    return one, personal, referral, erasure, disclosures


async def _section(
    pool: asyncpg.Pool,
    vault: Vault,
    asked: uuid.UUID,
    one: uuid.UUID,
    personal: dict[str, Any] | None,
    referral: referral_store.Referral,
    erasure: erasure_store.Erasure | None,
    disclosures: list[disclosure_store.Disclosure],
) -> dict[str, Any]:
    # Decisions, routes with their histories and outcomes, notes, submissions: as staff
    # read the referral (one reading of the record, not a second copy of it).
    view = await views.referral_view(pool, one, vault)
    return {
        "referral_id": str(one),
        "matched_by": "the referral asked about" if one == asked else SAME_PERSON,
        "status": view["status"],
        "received_at": view["received_at"],
        "personal_data": _personal(personal),
        "erased": {
            "at": erasure.at.isoformat(),
            "reason": erasure.reason,
            "what_remains": WHAT_REMAINS_AFTER_ERASURE,
        }
        if erasure is not None
        else None,
        "coded_facts": referral.facts,
        "consent": view["consent"],
        "decision": view["decision"],
        "statutory_referrals": view["statutory_referrals"],
        "submissions": view["submissions"],
        "notes": view["notes"],
        "timeline": view["timeline"],
        "disclosures": [
            {
                "at": d.at.isoformat(),
                "reader": d.accessor_name or d.accessor,
                "accessor": d.accessor,
                "service": d.service,
                "fields": list(d.fields),
                "purpose": d.purpose,
            }
            for d in disclosures
        ],
    }


def _personal(personal: dict[str, Any] | None) -> dict[str, Any] | None:
    if personal is None:
        return None
    shown = {k: v for k, v in personal.items() if k not in ("history", "contact_versions")}
    shown["earlier_contact_details"] = personal.get("contact_versions") or []
    shown["submissions_as_given"] = personal.get("history") or []
    return shown
