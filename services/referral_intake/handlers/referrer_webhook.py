"""The referrer's webhook (issue 19, "the loop closed to the referrer"): a client that
submits referrals (the upstream triage UI) registers one URL, and each status change
``GET /v1/status-changes`` would show it (received, the decision, each route's steps, a
missed clock) is pushed there as a Standard Webhooks signed ``POST`` whose ``data`` is the
feed's item: coded facts only, never a note, a name, a case reference or a contact detail.

The webhook is the caller's (its token's subject), as the feed is: it carries the changes
of the referrals that caller submitted, and no one else's.

Deliveries are taken from the timeline, not queued by each writer: the dispatcher reads the
changes recorded after the webhook's feed position (settled, as the feed is, so that a
transaction still running cannot add one behind it), queues them and moves the position in
one transaction. A change is so queued once, in order, and none is lost if intake stops; no
code that writes the timeline has to know about webhooks. The sending itself (signing,
retries, 410, ``Retry-After``, rotation, the vetted client) is the providers' machinery,
``services/plumbing/webhooks.py``."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

from services.plumbing import webhooks as push
from services.plumbing.outbound import OutboundClient
from services.plumbing.webhook_rules import message
from services.referral_intake.adapters import referrer_webhooks as store
from services.referral_intake.handlers import status_feed
from services.referral_intake.settings import IntakeSettings

TYPE = "referral.status_changed"
LABEL = "referrer"
"""The ``service`` label of the referrers' ``hub_webhook_attempts_total`` series."""
QUEUE_BATCH = 200
DISABLED_BECAUSE = {
    "gone": "The receiver answered 410 Gone: no more status changes are pushed to it until "
    "it is registered again (PUT /v1/webhook). Meanwhile GET /v1/status-changes has them all.",
}


@dataclass(frozen=True)
class Referrers:
    """What the referrer's webhook needs: the pool, the vetted client that calls the
    receivers, intake's settings, and a signal that wakes the dispatcher."""

    pool: asyncpg.Pool
    outbound: OutboundClient
    settings: IntakeSettings
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def settle(self) -> timedelta:
        return timedelta(seconds=self.settings.status_feed_settle_seconds)

    def sender(self, owner: str) -> push.Sender:
        return push.Sender(
            store=store.store(owner, self.settle),
            outcomes=push.NoOutcomes(),
            pool=self.pool,
            outbound=self.outbound,
            settings=self.settings,
            label=LABEL,
            waiting=self.waiting,
            disabled_because=DISABLED_BECAUSE,
        )


async def register(referrers: Referrers, owner: str, url: str) -> dict[str, Any]:
    """Push ``owner``'s status changes to ``url`` from now on (``plumbing.webhooks.register``:
    a new secret; the same URL again a rotation without downtime). Raises
    ``OutboundRefused`` when the URL may not be called; nothing is stored then."""
    return await push.register(referrers.sender(owner), url)


async def status(referrers: Referrers, owner: str) -> dict[str, Any] | None:
    """``owner``'s webhook as it sees it (``plumbing.webhooks.status``); None without one."""
    return await push.status(referrers.sender(owner))


async def unregister(referrers: Referrers, owner: str) -> bool:
    return await push.unregister(referrers.sender(owner))


def webhook_id(referral_id: uuid.UUID, timeline_id: int) -> str:
    """The ``webhook-id``: one per change, the same on every retry."""
    return f"msg_{referral_id.hex}_{timeline_id}"


async def queue_changes(referrers: Referrers, owner: str) -> int:
    """Queue the changes recorded for ``owner`` since its webhook's feed position, and move
    the position past them, in one transaction; how many were queued. Nothing when it has
    no enabled webhook (or another replica is queueing for it)."""
    async with referrers.pool.acquire() as conn, conn.transaction():
        position = await store.lock_for_queueing(conn, owner)
        if position is None:
            return 0
        changes = await status_feed.settled_changes(
            conn,
            submitted_by=owner,
            after_id=position,
            settle=referrers.settle,
            limit=QUEUE_BATCH,
        )
        if not changes:
            return 0
        messages = []
        for timeline_id, item in changes:
            referral_id = uuid.UUID(item["referral_id"])
            at = datetime.fromisoformat(item["at"])
            body = message(TYPE, item, at)
            messages.append((webhook_id(referral_id, timeline_id), referral_id, timeline_id, body))
        await store.queue(conn, owner, messages, changes[-1][0])
    return len(changes)


async def deliver_round(referrers: Referrers) -> int:
    """One round for every enabled webhook: queue its new changes, send what is due. How
    many changes were queued and deliveries attempted."""
    async with referrers.pool.acquire() as conn:
        owners = await store.enabled_owners(conn)
    done = 0
    for owner in owners:
        done += await queue_changes(referrers, owner)
        done += await push.deliver_due(referrers.sender(owner))
    return done


async def prune(pool: asyncpg.Pool, settings: IntakeSettings, now: datetime) -> int:
    """The retention job's part for the referrers' webhooks (``plumbing.webhooks.prune``)."""
    return await push.prune(pool, store.TABLES, settings, now)


async def run(referrers: Referrers) -> None:
    """Queue and deliver until cancelled (``plumbing.webhooks.keep_delivering``): woken
    when a change recorded on the timeline has settled (a trigger on the timeline notifies,
    migration 121), asleep until the next retry comes due, with a slow fallback poll
    (``DELIVERY_POLL_SECONDS``)."""
    push.count_series(LABEL)
    await push.keep_delivering(
        lambda: deliver_round(referrers),
        partial(push.next_due, referrers.pool, store.ReferrerWebhookStore, store.TABLES),
        referrers.waiting,
        referrers.settings,
        name="webhook_delivery.referrer",
        schema=referrers.settings.db_schema,
        settle_seconds=referrers.settings.status_feed_settle_seconds,
    )
