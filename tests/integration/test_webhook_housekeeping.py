"""A provider's webhook kept tidy and woken on work (issue: webhook housekeeping). Old
deliveries leave by the adapter's retention job (delivered after
``WEBHOOK_KEEP_DELIVERED_DAYS``, the others after ``WEBHOOK_KEEP_ENDED_DAYS``; never one still
waiting), without the work item forgetting that its provider's system holds it or how many
reminders it had. Another spelling of the registered URL is that URL (a rotation of its
secret, not a new receiver). The dispatcher sleeps until work comes (a notification from the
commit that queued it, whichever replica) or a retry comes due, with no poll to wait for.
Real PostgreSQL and a real receiver on this machine (``tests/support/webhook_receiver.py``)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.domain.delivery import webhook_id
from services.provider_adapter.handlers import webhooks
from tests.integration.test_webhooks_by_the_spec import SERVICE, Rig, receiver, rig, rigged
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Receiver
from tests.support.work_items import insert_work_item

__all__ = ["receiver", "rig"]  # the fixtures, shared with the specification's tests


async def _age(rig: Rig, route_id: uuid.UUID, days: int, state: str | None = None) -> None:
    async with rig.adapter.pool.acquire() as conn:
        await conn.execute(
            """UPDATE deliveries
               SET created_at = now() - make_interval(days => $2), state = coalesce($3, state)
               WHERE route_id = $1""",
            route_id,
            days,
            state,
        )


async def _attempts(rig: Rig, route_id: uuid.UUID) -> int:
    async with rig.adapter.pool.acquire() as conn:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM delivery_attempts a JOIN deliveries d USING (webhook_id)
                   WHERE d.route_id = $1""",
                route_id,
            )
        )


async def _prune_once(rig: Rig) -> None:
    """One pass of the retention job, as its loop runs it."""
    task = asyncio.create_task(webhooks.keep_for_retention(rig.adapter))

    async def gone_quiet() -> bool:
        async with rig.adapter.pool.acquire() as conn:
            # The loop's first pass has run once nothing it would remove is left.
            return not await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM deliveries
                   WHERE (state = 'delivered' AND created_at < now() - interval '30 days')
                      OR (state <> ALL ('{pending,sending,delivered}')
                          AND created_at < now() - interval '90 days'))"""
            )

    try:
        await eventually(gone_quiet, timeout=20, what="the retention job's pass")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_old_deliveries_leave_and_waiting_ones_stay(rig: Rig, receiver: Receiver) -> None:
    await rig.register(receiver)
    routes = [await rig.work_item() for _ in range(5)]
    await webhooks.deliver_due(rig.adapter)
    assert len(receiver.received("created")) == 5
    delivered_old, delivered_recent, failed, failed_old, waiting_old = routes
    await _age(rig, delivered_old, 31)
    await _age(rig, delivered_recent, 29)
    await _age(rig, failed, 89, "failed")
    await _age(rig, failed_old, 91, "refused")
    await _age(rig, waiting_old, 200, "pending")

    await _prune_once(rig)

    assert [len(await rig.deliveries(r)) for r in routes] == [0, 1, 1, 0, 1]
    assert await _attempts(rig, delivered_old) == 0
    assert await _attempts(rig, delivered_recent) == 1
    # The provider's system still holds the item whose push left the table: an erasure
    # must still tell it the item is cancelled.
    async with rig.adapter.pool.acquire() as conn:
        assert await repo.was_delivered(conn, delivered_old)


async def test_a_reminder_after_old_ones_left_has_a_number_of_its_own(
    rig: Rig, receiver: Receiver
) -> None:
    """Reminders are numbered per work item (``webhook-id`` ``..._reminder_<n>``), and a
    receiver drops an id it has seen: the third reminder is number 3 though the first two
    are no longer stored."""
    await rig.register(receiver)
    route_id = await rig.work_item("created", "reminder")
    await webhooks.deliver_due(rig.adapter)
    await webhooks.deliver_due(rig.adapter)
    async with rig.adapter.pool.acquire() as conn, conn.transaction():
        await webhooks.enqueue(conn, rig.adapter, route_id, "reminder", {"route_id": str(route_id)})
    await webhooks.deliver_due(rig.adapter)
    await _age(rig, route_id, 31)
    await _prune_once(rig)
    assert await rig.deliveries(route_id) == []

    async with rig.adapter.pool.acquire() as conn, conn.transaction():
        await webhooks.enqueue(conn, rig.adapter, route_id, "reminder", {"route_id": str(route_id)})
    await webhooks.deliver_due(rig.adapter)
    reminders = [d.webhook_id for d in receiver.received("reminder")]
    assert reminders == [webhook_id(route_id, "reminder", n) for n in (1, 2, 3)]
    assert all(d.answered == 204 for d in receiver.received("reminder"))


async def test_another_spelling_of_the_url_is_a_rotation_not_a_new_url(
    rig: Rig, receiver: Receiver
) -> None:
    old = (await rig.register(receiver))["secret"]
    port = receiver.url.split(":")[2].split("/")[0]
    answer = await rig.api.put(
        "/v1/webhook", json={"url": f"HTTP://127.0.0.1:{port}/hooks/x/../%68ub#cases"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == receiver.url
    assert answer.json()["previous_secret_valid_until"] is not None
    assert (await rig.webhook())["url"] == receiver.url

    new = answer.json()["secret"]
    await rig.work_item()
    await webhooks.deliver_due(rig.adapter)
    delivery = receiver.received("created")[0]
    Webhook(old).verify(delivery.body, delivery.headers)
    Webhook(new).verify(delivery.body, delivery.headers)


async def test_a_delivery_queued_anywhere_arrives_without_a_poll_and_its_retry_when_due(
    database_url: str, receiver: Receiver
) -> None:
    """The dispatcher's fallback poll is an hour here: a delivery queued by another replica
    (which cannot set this one's in-process signal) arrives because its commit notified
    the dispatcher, and a failed attempt is tried again because its time came."""
    async with rigged(
        database_url, delivery_poll_seconds=3600, webhook_first_retry_seconds=0.3
    ) as rig:
        await rig.register(receiver)
        dispatcher = asyncio.create_task(webhooks.run(rig.adapter))
        replica = dataclasses.replace(rig.adapter, deliveries_waiting=asyncio.Event())

        async def queued_by_the_replica() -> uuid.UUID:
            async with replica.pool.acquire() as conn, conn.transaction():
                route_id, referral_id = await insert_work_item(
                    conn, SERVICE.value, datetime.now(UTC)
                )
                item = {"referral_id": str(referral_id), "route_id": str(route_id)}
                await webhooks.enqueue(conn, replica, route_id, "created", item)
            return route_id

        def delivered(route_id: uuid.UUID) -> bool:
            return any(
                d.answered == 204 and d.payload["data"]["route_id"] == str(route_id)
                for d in receiver.received("created")
            )

        try:
            first = await queued_by_the_replica()
            await eventually(lambda: _now(delivered(first)), timeout=20, what="the push")
            receiver.plan = ["fail"]
            second = await queued_by_the_replica()
            await eventually(lambda: _now(delivered(second)), timeout=20, what="the retry")
        finally:
            dispatcher.cancel()
            with pytest.raises(asyncio.CancelledError):
                await dispatcher
    assert [d.answered for d in receiver.received("created")] == [204, 500, 204]


async def _now(value: bool) -> bool:
    return value


async def test_a_url_registered_in_another_spelling_before_is_rotated_too(
    rig: Rig, receiver: Receiver
) -> None:
    """A webhook stored before URLs were kept in one spelling: registering its URL again is
    still a rotation, and it is stored in the one spelling from then on."""
    await rig.register(receiver)
    async with rig.adapter.pool.acquire() as conn:
        await conn.execute(
            "UPDATE webhook SET url = $1", receiver.url.replace("/hooks/hub", "/hooks/%68ub")
        )
    again = await rig.register(receiver)
    assert again["previous_secret_valid_until"] is not None
    assert (await rig.webhook())["url"] == receiver.url
