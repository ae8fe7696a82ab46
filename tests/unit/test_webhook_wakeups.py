"""When a notification wakes a webhook dispatcher (``services/plumbing/webhook_wakeups.py``):
at once for work due already, after the settling time for a status change just recorded.
No database: the alarm is given the payloads a trigger would send."""

from __future__ import annotations

import asyncio
import time

from services.plumbing.webhook_wakeups import Alarm, channel


async def test_work_recorded_a_while_ago_or_without_an_instant_wakes_at_once() -> None:
    for payload in (str(time.time() - 10), "", "not a number", "nan"):
        event = asyncio.Event()
        Alarm(event, delay=5.0).notified(payload)
        assert event.is_set(), payload


async def test_a_change_just_recorded_wakes_once_it_has_settled_not_before() -> None:
    event = asyncio.Event()
    alarm = Alarm(event, delay=1.5)
    recorded = time.time()
    for _ in range(50):  # a burst of commits: one wake-up, not fifty
        alarm.notified(str(recorded))
    assert not event.is_set()
    await asyncio.wait_for(event.wait(), timeout=10)
    assert time.time() >= recorded + 1.5


async def test_a_queued_delivery_wakes_at_once() -> None:
    event = asyncio.Event()
    Alarm(event).notified(str(time.time()))
    assert event.is_set()


def test_each_schema_has_its_own_channel() -> None:
    assert channel("adapter_isva") == "adapter_isva_webhooks"
    assert channel("intake") != channel("adapter_isva")
