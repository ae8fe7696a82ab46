"""Changing a person's contact details (``PATCH /v1/referrals/{id}/contact``).

In one transaction: the vault entry gets the new details and keeps the previous ones under
``contact_versions`` (sealed with the rest, erased with the rest); the identity keys are
computed again, so that matching follows the new details; the coded facts
(``contact.safe_to_contact``, ``contact.preferred_channel``) follow; the timeline records
``contact_changed`` with the fields' names, never their values; and
``referral.contact_changed.v1`` goes into the outbox, so that every provider with an open
route hears of it, even one whose adapter is down at the moment (it reads the event when it
is back).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas import events
from schemas.codes import ContactField, ReferralStatus, Source
from schemas.refusals import Refused
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import routes as route_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain.contact_change import apply_change
from services.referral_intake.domain.lifecycle import is_open
from services.referral_intake.handlers.common import SOURCE, Erased, locked_referral
from services.referral_intake.handlers.identity import key_again

CONTACT_CHANGED = "contact_changed"


@dataclass(frozen=True)
class Changed:
    referral_id: uuid.UUID
    version: int
    fields: tuple[ContactField, ...]
    providers_told: tuple[str, ...]
    """Services with an open route, told through the bus (empty when nothing changed)."""


async def change_contact(
    pool: asyncpg.Pool,
    vault: Vault,
    referral_id: uuid.UUID,
    change: dict[str, Any],
    *,
    actor: str,
    identity_key: bytes,
) -> Changed:
    """Apply ``change`` (contact field -> new value, ``None`` removing one). Raises
    ``NotFound``, ``Erased``, ``Refused`` (the referral is closed) and
    ``contact_change.InvalidChange`` (nothing is stored then). A change that changes nothing
    is answered as such, and nothing is recorded or sent."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        referral = await _open_referral(conn, referral_id)
        personal = await vault.read(conn, referral_id) or {}
        facts: dict[str, Any] = dict(referral.facts)
        contact, changed = apply_change(
            personal.get("contact"),
            change,
            source=Source(facts["source"]),
            subject_named=bool(personal.get("subject_name")),
        )
        version = await referral_store.contact_version(conn, referral_id)
        if not changed:
            return Changed(referral_id, version, (), ())
        version += 1
        await _keep_and_seal(
            conn, vault, referral_id, personal, contact, version, actor, now, identity_key
        )
        facts["contact"] = {
            **(facts.get("contact") or {}),
            "safe_to_contact": contact["safe_to_contact"],
            "preferred_channel": contact["preferred_channel"],
        }
        await referral_store.set_contact_changed(conn, referral_id, facts, version, now)
        await timeline_store.add(
            conn,
            referral_id,
            CONTACT_CHANGED,
            now,
            actor=actor,
            detail={"fields": [f.value for f in changed], "contact_version": version},
        )
        told = await _tell_providers(conn, referral_id, contact, changed, version, now)
    return Changed(referral_id, version, tuple(changed), tuple(told))


async def _open_referral(conn: Connection, referral_id: uuid.UUID) -> Any:
    """The referral, locked. Raises ``NotFound``, ``Erased`` or ``Refused`` (closed)."""
    referral = await locked_referral(conn, referral_id)
    if referral.erased_at is not None:
        raise Erased
    if referral.status == ReferralStatus.CLOSED.value:
        raise Refused(
            "This referral is closed: no provider will contact the person through it. "
            "Correct the details on the person's open referral, or make a new one."
        )
    return referral


async def _keep_and_seal(
    conn: Connection,
    vault: Vault,
    referral_id: uuid.UUID,
    personal: dict[str, Any],
    contact: dict[str, Any],
    version: int,
    actor: str,
    now: datetime,
    identity_key: bytes,
) -> None:
    """The new details in the vault, the previous version kept sealed beside them (erased
    with them), and the identity keys recomputed so that matching follows the new details."""
    previous = {
        "version": version - 1,
        "replaced_at": now.isoformat(),
        "replaced_by": actor,
        "contact": personal.get("contact"),
    }
    updated = {
        **personal,
        "contact": contact,
        "contact_versions": [*(personal.get("contact_versions") or []), previous],
    }
    await vault.write(conn, referral_id, updated)
    await key_again(conn, referral_id, updated, identity_key)


async def _tell_providers(
    conn: Connection,
    referral_id: uuid.UUID,
    contact: dict[str, Any],
    changed: list[Any],
    version: int,
    now: datetime,
) -> list[str]:
    """The change on the bus (through the outbox) for every provider with an open route;
    returns those services."""
    told = sorted(
        {
            r.service.value
            for r in await route_store.read(conn, referral_id=referral_id)
            if is_open(r.status)
        }
    )
    event = events.ContactChanged(
        change_id=uuid.uuid4(),
        referral_id=referral_id,
        changed_at=now,
        version=version,
        fields=changed,
        safe_to_contact=contact["safe_to_contact"],
        preferred_channel=contact["preferred_channel"],
    )
    await outbox.add(conn, [outgoing(event, source=SOURCE, referral_id=referral_id)])
    return told
