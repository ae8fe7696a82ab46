"""What wakes a webhook dispatcher (``services/plumbing/webhooks.py``, ``keep_delivering``)
when work comes, instead of polling for it: PostgreSQL's LISTEN/NOTIFY, the mechanism that
wakes the outbox relay (``services/plumbing/outbox.py``).

A trigger of the owner's (its migrations) notifies ``<schema>_webhooks`` when a transaction
that queues work for the dispatcher commits (the adapter: a delivery queued; intake: a
status change recorded on the timeline), with the instant the work was recorded as the
payload (seconds since the epoch). ``listen`` holds one connection listening on that
channel and hands each payload to an ``Alarm``, which wakes the dispatcher when the work is
due: at once, or, for intake, once the change has settled (``STATUS_FEED_SETTLE_SECONDS``:
the feed, and so the webhook, shows a change only then).

A notification is lost while the listener is reconnecting; the listener wakes the
dispatcher each time it has (re)connected, so that what was announced meanwhile is looked
for, and the dispatcher's slow fallback poll (``DELIVERY_POLL_SECONDS``) covers the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

from services.plumbing import db
from services.plumbing.db import CONNECTION_ERRORS

log = logging.getLogger(__name__)

BUCKET_SECONDS = 0.05
"""Wake-ups asked for within this much of one another are one wake-up."""
MARGIN_SECONDS = 0.02
"""Added to a settling time, so that the change is past it (the feed compares strictly)."""
FIRST_PAUSE = 0.2
"""Seconds before listening again after a loss; doubled after each failure, to 10."""
CHECK_SECONDS = 30.0
"""How often an idle listening connection is checked (a dropped TCP connection may say
nothing until it is used)."""


def channel(schema: str) -> str:
    """The channel the owner's trigger notifies (``<schema>_webhooks``)."""
    return f"{schema}_webhooks"


class Alarm:
    """Sets ``event`` (the dispatcher's wake-up) ``delay`` seconds after each instant it is
    given: a notification's payload (seconds since the epoch, the database's clock, which
    the feed's settling is measured against too), or at once for a payload that is not one.
    Wake-ups asked for within ``BUCKET_SECONDS`` of one another are merged."""

    def __init__(self, event: asyncio.Event, delay: float = 0.0) -> None:
        self.event = event
        self.delay = delay
        self._scheduled: set[float] = set()

    def notified(self, payload: str) -> None:
        try:
            recorded = float(payload)
        except ValueError:
            self.event.set()
            return
        self.at(recorded + self.delay + (MARGIN_SECONDS if self.delay else 0.0))

    def at(self, when: float) -> None:
        """Wake at ``when`` (seconds since the epoch); at once if it has passed."""
        wait = when - time.time()
        if wait <= 0 or not math.isfinite(wait):
            self.event.set()
            return
        bucket = math.ceil(when / BUCKET_SECONDS) * BUCKET_SECONDS
        if bucket in self._scheduled:
            return
        self._scheduled.add(bucket)
        asyncio.get_running_loop().call_later(bucket - time.time(), self._ring, bucket)

    def _ring(self, bucket: float) -> None:
        self._scheduled.discard(bucket)
        self.event.set()


async def listen(database_url: str, name: str, alarm: Alarm) -> None:
    """Until cancelled: listen on channel ``name`` and give each notification's payload to
    ``alarm``. After each (re)connection the alarm rings at once (notifications sent
    while no one listened are lost). A lost connection, or a database that cannot be
    reached, is tried again after a pause that doubles up to 10 seconds."""
    backoff = FIRST_PAUSE
    while True:
        try:
            await _listen_once(database_url, name, alarm)
            pause, backoff = FIRST_PAUSE, FIRST_PAUSE  # it listened until the loss
        except CONNECTION_ERRORS as exc:
            log.warning(
                "webhook wake-ups not heard; listening again",
                extra={"channel": name, "error": type(exc).__name__, "retry_in_s": backoff},
            )
            pause, backoff = backoff, min(backoff * 2, 10.0)
        except Exception as exc:  # the dispatcher's fallback poll goes on; so must this
            log.error(
                "webhook wake-ups failed; listening again",
                extra={"channel": name, "error": type(exc).__name__},
                exc_info=exc,
            )
            pause, backoff = backoff, min(backoff * 2, 10.0)
        await asyncio.sleep(pause)


async def _listen_once(database_url: str, name: str, alarm: Alarm) -> None:
    """Listen on one connection until it is lost."""
    conn = await db.connect(database_url, server_settings={"application_name": f"{name} wake-ups"})
    lost = asyncio.Event()

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
        alarm.notified(str(payload))

    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(name, on_notify)
        alarm.event.set()  # whatever was announced before we listened
        while not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), CHECK_SECONDS)
            if lost.is_set():
                return
            await conn.fetchval("SELECT 1")  # raises if the connection died silently
    finally:
        if not conn.is_closed():
            conn.terminate()
