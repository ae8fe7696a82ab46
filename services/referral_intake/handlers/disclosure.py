"""Contact details from the vault, for the provider of a route that may still lead to
contact. Every disclosure is logged (who, which referral, which fields, why, when)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from schemas import data_sharing
from schemas.codes import ConsentBasis, Service
from schemas.refusals import NotFound
from services.referral_intake.adapters import disclosures as disclosure_store
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain.lifecycle import is_open
from services.referral_intake.handlers.common import Erased, routed_referral

NEEDS_CONSENT_ON_RECORD = {
    ConsentBasis.EXPLICIT_CONSENT.value,
    ConsentBasis.OPT_OUT_NOT_EXERCISED.value,
}


CONTACT_VERSION = "contact_version"


class NoLongerDisclosed(Erased):
    """The route has ended, or the consent it relied on was withdrawn, or the personal data
    was erased: answered as ``Erased`` (the sentence for staff; a provider's is
    ``_disclose``'s in the API)."""


async def disclose_contact(
    pool: asyncpg.Pool,
    vault: Vault,
    referral_id: uuid.UUID,
    *,
    service: Service,
    accessor: str,
    purpose: str,
    accessor_name: str | None = None,
) -> dict[str, Any]:
    """``NotFound`` when nothing was ever routed to ``service`` (exactly as for a referral
    that does not exist); ``NoLongerDisclosed`` when it was, but may no longer be read.
    ``accessor`` is the adapter's own subject, or a person's coded actor with their name in
    ``accessor_name`` (the log keeps both, and the name is remembered for the timeline)."""
    async with pool.acquire() as conn, conn.transaction():
        referral, routes = await routed_referral(conn, referral_id, service)
        consent_withdrawn = referral.consent_status in ("refused", "withdrawn")
        readable = [
            r
            for r in routes
            if is_open(r.status)
            and not (consent_withdrawn and r.consent_basis in NEEDS_CONSENT_ON_RECORD)
        ]
        if not readable:
            raise NoLongerDisclosed
        personal = await vault.read(conn, referral_id)
        if personal is None:
            raise NoLongerDisclosed  # erased
        # Whom to ask for, when the contact is someone else (a parent, a carer).
        contact = {**(personal.get("contact") or {}), "subject_name": personal.get("subject_name")}
        allowed = data_sharing.contact_fields(service)
        fields = [f for f in allowed if contact.get(f) is not None]
        await disclosure_store.log_disclosure(
            conn,
            referral_id,
            accessor=accessor,
            accessor_name=accessor_name,
            service=service.value,
            fields=fields,
            purpose=purpose,
        )
        if accessor_name is not None:
            await disclosure_store.name_person(conn, accessor, service.value, accessor_name)
        version = await referral_store.contact_version(conn, referral_id)
    # Which version of the details this is, so that the adapter knows its provider has read
    # the new ones after a change (and lifts its marker); the adapter keeps it to itself.
    return {**{f: contact.get(f) for f in allowed}, CONTACT_VERSION: version}


async def name_person(
    pool: asyncpg.Pool, actor: str, *, service: Service, display_name: str
) -> None:
    """Remember who a provider's coded actor is, for the timeline and the logs."""
    async with pool.acquire() as conn:
        await disclosure_store.name_person(conn, actor, service.value, display_name)


async def contact_for_staff(
    pool: asyncpg.Pool, vault: Vault, referral_id: uuid.UUID, *, accessor: str, purpose: str
) -> dict[str, Any]:
    """The contact details and date of birth, for a member of staff; logged like every read."""
    async with pool.acquire() as conn, conn.transaction():
        if not await referral_store.exists(conn, referral_id):
            raise NotFound
        personal = await vault.read(conn, referral_id)
        if personal is None:
            raise NoLongerDisclosed
        contact = personal.get("contact") or {}
        shown = {
            **contact,
            "subject_name": personal.get("subject_name"),
            "date_of_birth": personal.get("date_of_birth"),
            "crime_reference": personal.get("crime_reference"),
        }
        if personal.get("history"):
            # What each submission gave, as given (a resubmission may bring a new number or
            # a note that the merged details no longer show word for word).
            shown["submissions"] = personal["history"]
        fields = sorted(k for k, v in shown.items() if v is not None)
        await disclosure_store.log_disclosure(
            conn, referral_id, accessor=accessor, service=None, fields=fields, purpose=purpose
        )
        shown[CONTACT_VERSION] = await referral_store.contact_version(conn, referral_id)
    return shown


async def disclosures(pool: asyncpg.Pool, referral_id: uuid.UUID) -> dict[str, Any]:
    """A referral's disclosure log: who read which of its personal fields, when and why."""
    async with pool.acquire() as conn:
        if not await referral_store.exists(conn, referral_id):
            raise NotFound
        rows = await disclosure_store.disclosure_log(conn, referral_id)
    return {
        "referral_id": str(referral_id),
        "disclosures": [
            {
                "at": r.at.isoformat(),
                "accessor": r.accessor,
                "accessor_name": r.accessor_name,
                "service": r.service,
                "fields": list(r.fields),
                "purpose": r.purpose,
            }
            for r in rows
        ],
    }
