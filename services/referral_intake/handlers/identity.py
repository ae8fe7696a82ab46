"""Keying referrals made under an older normalisation again, from the vault.

When the way names, phones or crime references are normalised changes (``identity.
IDENTITY_VERSION``), the keys stored beside older referrals no longer match new ones: a
person referred before the change would never be found again. At start, intake keys every
such referral again from its vault entry, in batches, in the background; rows are locked
``SKIP LOCKED`` so that several intake replicas share the work.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg

from services.plumbing import loops
from services.plumbing.db import Connection
from services.plumbing.loops import Next
from services.referral_intake.adapters import identities as identity_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.domain import identity

log = logging.getLogger(__name__)
BATCH = 200


async def rekey_batch(pool: asyncpg.Pool, vault: Vault, key: bytes) -> int:
    """Key one batch again; how many were done (0: none left)."""
    async with pool.acquire() as conn, conn.transaction():
        stale = await identity_store.stale_identities(conn, identity.IDENTITY_VERSION, BATCH)
        for referral_id in stale:
            await key_again(conn, referral_id, await vault.read(conn, referral_id) or {}, key)
    return len(stale)


def keys_of_personal(key: bytes, personal: dict[str, Any]) -> identity.IdentityKeys:
    """The identity keys of a vault entry (its subject's name, date of birth and phone, and
    the crime reference)."""
    contact = personal.get("contact") or {}
    return identity.keys_of(
        key,
        name=identity.name_of_subject(
            personal.get("subject_name"), contact.get("name"), contact.get("relationship")
        ),
        date_of_birth=personal.get("date_of_birth"),
        phone=contact.get("phone"),
        crime_reference=personal.get("crime_reference"),
    )


async def key_again(
    conn: Connection, referral_id: uuid.UUID, personal: dict[str, Any], key: bytes
) -> None:
    """Store the keys of ``personal`` beside the referral (the current normalisation): after
    a change of normalisation, or of the person's details (matching follows the new ones)."""
    keys = keys_of_personal(key, personal)
    await identity_store.set_identity(conn, referral_id, keys, identity.IDENTITY_VERSION)


async def run(pool: asyncpg.Pool, vault: Vault, key: bytes, interval: float = 30.0) -> None:
    """Until every referral is keyed by the current normalisation; then it stops."""
    done = 0

    async def step() -> Next:
        nonlocal done
        batch = await rekey_batch(pool, vault, key)
        done += batch
        if batch:
            return Next.AGAIN
        if done:
            log.info("referrals keyed again for matching", extra={"referrals": done})
        return Next.STOP

    await loops.every(interval, step, name="identity_rekeying")
