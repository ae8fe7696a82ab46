"""Erasing personal data: on request (a supervisor, for one referral) and by retention (the
contact details of referrals closed longer than the retention period). The coded facts,
routes and outcomes stay, so reports are unchanged; each erasure is itself logged."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from schemas import events
from schemas.refusals import Refused
from services.plumbing import loops, outbox
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.referral_intake.adapters import erasures as erasure_store
from services.referral_intake.adapters import referrals as referral_store
from services.referral_intake.adapters import timeline as timeline_store
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.handlers.common import SOURCE, locked_referral

log = logging.getLogger(__name__)
RETENTION = "retention"


async def erase(
    pool: asyncpg.Pool, vault: Vault, referral_id: uuid.UUID, *, reason: str, actor: str
) -> dict[str, str]:
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        referral = await locked_referral(conn, referral_id)
        if referral.erased_at is not None:
            raise Refused("This referral's personal data has already been erased.")
        await _erase_locked(conn, vault, referral_id, reason, actor, now, reason[:200])
    return {"referral_id": str(referral_id), "erased_at": now.isoformat()}


async def erase_expired(
    pool: asyncpg.Pool, vault: Vault, now: datetime, retention: timedelta
) -> int:
    """Erase the personal data of every referral closed before ``now - retention``."""
    erased = 0
    reason = f"closed over {retention.days} days ago"
    async with pool.acquire() as conn:
        while True:
            due = await erasure_store.due_for_erasure(conn, now - retention, 200)
            for referral_id in due:
                async with conn.transaction():
                    referral = await referral_store.get(conn, referral_id, lock=True)
                    if referral is None or referral.erased_at is not None:
                        continue  # erased on request meanwhile
                    await _erase_locked(
                        conn, vault, referral_id, reason, RETENTION, now, "retention period ended"
                    )
                erased += 1
            if len(due) < 200:
                return erased


async def _erase_locked(
    conn: Connection,
    vault: Vault,
    referral_id: uuid.UUID,
    reason: str,
    actor: str,
    now: datetime,
    timeline_reason: str,
) -> None:
    """Erase a referral's personal data and log it, with its row locked by the caller and
    its data not erased yet (so never twice, whoever asks)."""
    await vault.erase(conn, referral_id)
    await erasure_store.mark_erased(conn, referral_id, reason, actor, now)
    # Every provider's adapter takes the referral out of its queue, withdraws its pending
    # webhook pushes and answers 410 to any later step (in the same transaction: an erasure
    # the adapters never hear of cannot happen).
    await outbox.add(
        conn,
        [
            outgoing(
                events.PersonalDataErased(
                    referral_id=referral_id,
                    erased_at=now,
                    reason=RETENTION if actor == RETENTION else reason,
                ),
                source=SOURCE,
                referral_id=referral_id,
            )
        ],
    )
    await timeline_store.add(
        conn,
        referral_id,
        "personal_data_erased",
        now,
        actor=actor,
        detail={"reason": timeline_reason},
    )


async def run(
    pool: asyncpg.Pool,
    vault: Vault,
    interval: float,
    retention: timedelta,
    also: Sequence[Callable[[datetime], Awaitable[object]]] = (),
) -> None:
    """Erase what is due every ``interval`` seconds until cancelled, then do the retention
    job's other work (``also``, each given the time: the referrers' old webhook deliveries)."""

    async def step() -> None:
        now = datetime.now(UTC)
        erased = await erase_expired(pool, vault, now, retention)
        if erased:
            log.info("personal data erased after the retention period", extra={"referrals": erased})
        for housekeeping in also:
            await housekeeping(now)

    await loops.every(interval, step, name="retention")
