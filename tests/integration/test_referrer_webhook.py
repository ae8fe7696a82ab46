"""The referrer's webhook (issue 19, "the loop closed to the referrer"): the triage client
registers a URL on intake (``PUT /v1/webhook``) and receives each status change of the
referrals it submitted, from submission to outcome, as the feed shows them, each a Standard
Webhooks signed POST verifiable with the ``standardwebhooks`` library, in order, with no
personal data; a 410 disables it; a private URL is refused at registration. Real
PostgreSQL and broker; intake runs with its background loops (the dispatcher among them);
the router's decision and a provider's steps are recorded as their events would be."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from deploy.localstack.ports import free_port
from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess
from tests.integration.test_intake_api import _decided
from tests.integration.test_status_feed import (
    ROUTED_EVENTS,
    Referrers,
    _read_all,
    _record_steps,
    serving_referrers,
)
from tests.support.referrals import marked, referral
from tests.support.waiting import eventually
from tests.support.webhook_receiver import (
    LOOPBACK_RECEIVERS,
    Delivery,
    Receiver,
    register,
    webhook_receiver,
    webhook_state,
)

CHANGE = "referral.status_changed"


@pytest.fixture(scope="module")
async def intake(module_database_url: str, module_kafka: KafkaAccess) -> AsyncIterator[Referrers]:
    async with serving_referrers(
        module_database_url,
        module_kafka,
        **LOOPBACK_RECEIVERS,
        webhook_timeout_seconds=1.0,
        webhook_first_retry_seconds=0.3,
        # No test here waits for a poll: each change arrives because the commit that
        # recorded it woke the dispatcher, and each retry because its time came.
        delivery_poll_seconds=3600,
        retention_check_seconds=0.3,
    ) as found:
        yield found


@pytest.fixture
async def receiver(intake: Referrers) -> AsyncIterator[Receiver]:
    with webhook_receiver(free_port()) as found:
        yield found
        await intake.triage.delete("/v1/webhook")


def _changes(receiver: Receiver, referral_id: str) -> list[Delivery]:
    return [
        d
        for d in receiver.received()
        if d.payload.get("type") == CHANGE and d.payload["data"]["referral_id"] == referral_id
    ]


async def test_the_referrer_hears_of_each_change_signed_in_order_without_personal_data(
    intake: Referrers, receiver: Receiver
) -> None:
    await register(intake.triage, receiver)
    body, markers = marked()
    mine = (await intake.triage.post("/v1/referrals", json=body)).json()["referral_id"]
    routed = await _decided(intake.database_url, intake.triage)
    others = (await intake.supervisor.post("/v1/referrals", json=referral())).json()["referral_id"]
    await _record_steps(intake.database_url, routed)

    async def up_to_the_outcome() -> list[Delivery] | None:
        found = _changes(receiver, routed)
        return found if any(d.payload["data"]["event"] == "outcome" for d in found) else None

    pushed = await eventually(
        up_to_the_outcome, timeout=30, what="the routed referral's outcome at the receiver"
    )
    assert [d.payload["data"]["event"] for d in pushed] == ROUTED_EVENTS
    # Exactly what the feed shows, item for item.
    feed, _ = await _read_all(intake.triage)
    assert [d.payload["data"] for d in pushed] == [i for i in feed if i["referral_id"] == routed]
    assert _changes(receiver, mine)[0].payload["data"]["event"] == "received"
    assert _changes(receiver, others) == []  # the supervisor's, not the triage caller's

    every = receiver.received()
    assert {d.answered for d in every} == {204}
    for delivery in every:
        # Signed as Standard Webhooks says: the library verifies it with the secret given.
        assert receiver.secret is not None
        Webhook(receiver.secret).verify(delivery.body, delivery.headers)
        text = delivery.body.decode()
        for marker in markers:
            assert marker not in text
        assert {"by", "contact_attempt", "detail", "notes"}.isdisjoint(delivery.payload["data"])
    ids = [d.webhook_id for d in every]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("msg_") for i in ids)

    state = await webhook_state(intake.triage)
    assert state["url"] == receiver.url
    assert state["deliveries"]["delivered"] == len(every)
    assert state["deliveries"]["pending"] == 0
    assert "secret" not in state
    # The webhook is the caller's: the supervisor has none.
    assert (await intake.supervisor.get("/v1/webhook")).status_code == 404


async def test_a_failed_delivery_is_retried_with_the_same_id_before_the_next_change(
    intake: Referrers, receiver: Receiver
) -> None:
    await register(intake.triage, receiver)
    receiver.plan = ["fail", "fail"]
    routed = await _decided(intake.database_url, intake.triage)

    async def routed_arrived() -> list[Delivery] | None:
        found = [d for d in _changes(receiver, routed) if d.answered == 204]
        return found if len(found) >= 2 else None

    await eventually(routed_arrived, timeout=30, what="received and routed, after retries")
    attempts = _changes(receiver, routed)
    assert [d.answered for d in attempts[:3]] == [500, 500, 204]
    assert len({d.webhook_id for d in attempts[:3]}) == 1  # one message, tried three times
    assert [d.payload["data"]["event"] for d in attempts if d.answered == 204][:2] == [
        "received",
        "routed",
    ]


async def test_410_gone_disables_the_webhook_until_it_is_registered_again(
    intake: Referrers, receiver: Receiver
) -> None:
    await register(intake.triage, receiver)
    receiver.plan = ["gone"]
    first = (await intake.triage.post("/v1/referrals", json=referral())).json()["referral_id"]

    async def disabled() -> dict[str, Any] | None:
        state = await webhook_state(intake.triage)
        return state if state["disabled"] else None

    state = await eventually(disabled, timeout=20, what="the webhook disabled by its 410")
    assert state["disabled"]["reason"] == "gone"
    assert "410 Gone" in state["disabled"]["detail"]
    assert state["deliveries"]["disabled"] >= 1
    assert [d.answered for d in _changes(receiver, first)] == [410]

    again = await register(intake.triage, receiver)
    assert again["previous_secret_valid_until"] is not None  # the same URL: a rotation
    assert (await webhook_state(intake.triage))["disabled"] is None
    later = (await intake.triage.post("/v1/referrals", json=referral())).json()["referral_id"]
    await eventually(lambda: _arrived(receiver, later), timeout=20, what="the later referral")
    assert [d.answered for d in _changes(receiver, first)] == [410]  # never sent again


async def _arrived(receiver: Receiver, referral_id: str) -> bool:
    return any(d.answered == 204 for d in _changes(receiver, referral_id))


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://10.0.0.5/hook", "private"),
        ("https://169.254.169.254/latest", "link_local"),
        ("http://hooks.example.org/hub", "scheme"),
    ],
)
async def test_a_url_the_hub_may_not_call_is_refused_at_registration(
    intake: Referrers, url: str, rule: str
) -> None:
    answer = await intake.triage.put("/v1/webhook", json={"url": url})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["rule"] == rule
    assert "10.0.0.5" not in answer.json()["detail"]
    assert (await intake.triage.get("/v1/webhook")).status_code == 404


async def test_removing_a_webhook_that_is_not_there_is_404(intake: Referrers) -> None:
    answer = await intake.triage.delete("/v1/webhook")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_another_spelling_of_the_url_is_a_rotation_not_a_new_url(
    intake: Referrers, receiver: Receiver
) -> None:
    """The same receiver spelled otherwise (scheme in capitals, a dot segment, an escaped
    letter, a fragment) is the URL registered: its secret rotates without downtime (the
    old one keeps signing) instead of being dropped as if a new receiver came."""
    old = (await register(intake.triage, receiver))["secret"]
    port = receiver.url.split(":")[2].split("/")[0]
    spelled = f"HTTP://127.0.0.1:{port}/hooks/./%68ub#triage"
    answer = await intake.triage.put("/v1/webhook", json={"url": spelled})
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == receiver.url
    assert answer.json()["previous_secret_valid_until"] is not None
    assert (await webhook_state(intake.triage))["url"] == receiver.url

    receiver.secret = answer.json()["secret"]
    sent = (await intake.triage.post("/v1/referrals", json=referral())).json()["referral_id"]
    await eventually(lambda: _arrived(receiver, sent), timeout=20, what="the referral's change")
    delivery = _changes(receiver, sent)[0]
    Webhook(old).verify(delivery.body, delivery.headers)  # a receiver not yet switched
    Webhook(receiver.secret).verify(delivery.body, delivery.headers)


async def _kept(database_url: str, referral_id: str) -> tuple[int, int]:
    """The referral's deliveries and their attempts still stored."""
    conn = await db.connect(database_url, server_settings={"search_path": "intake"})
    try:
        row = await conn.fetchrow(
            """SELECT count(*) AS deliveries,
                      (SELECT count(*) FROM referrer_delivery_attempts a
                       JOIN referrer_deliveries d USING (webhook_id)
                       WHERE d.referral_id = $1) AS attempts
               FROM referrer_deliveries WHERE referral_id = $1""",
            uuid.UUID(referral_id),
        )
        assert row is not None
        return int(row["deliveries"]), int(row["attempts"])
    finally:
        await conn.close()


async def _age(database_url: str, referral_id: str, days: int, state: str | None = None) -> None:
    """Make the referral's deliveries ``days`` old (and end them in ``state``)."""
    conn = await db.connect(database_url, server_settings={"search_path": "intake"})
    try:
        await conn.execute(
            """UPDATE referrer_deliveries
               SET created_at = now() - make_interval(days => $2), state = coalesce($3, state)
               WHERE referral_id = $1""",
            uuid.UUID(referral_id),
            days,
            state,
        )
    finally:
        await conn.close()


async def test_the_retention_job_removes_deliveries_past_their_retention_period(
    intake: Referrers, receiver: Receiver
) -> None:
    """Delivered: kept 30 days (WEBHOOK_KEEP_DELIVERED_DAYS); never delivered: 90
    (WEBHOOK_KEEP_ENDED_DAYS); removed with their attempts by intake's retention job, and
    never pushed again."""
    await register(intake.triage, receiver)
    delivered, failed, recent = [
        (await intake.triage.post("/v1/referrals", json=referral())).json()["referral_id"]
        for _ in range(3)
    ]

    async def all_arrived() -> bool:
        return all([await _arrived(receiver, s) for s in (delivered, failed, recent)])

    await eventually(all_arrived, timeout=20, what="the three referrals' changes")
    assert (await _kept(intake.database_url, delivered))[1] >= 1

    await _age(intake.database_url, delivered, 31)
    await _age(intake.database_url, failed, 31, "failed")
    await _age(intake.database_url, recent, 29)

    async def removed() -> bool:
        return await _kept(intake.database_url, delivered) == (0, 0)

    await eventually(removed, timeout=20, what="the delivered change of 31 days ago removed")
    assert (await _kept(intake.database_url, failed))[0] == 1  # under 90 days: investigated
    assert (await _kept(intake.database_url, recent))[0] == 1

    await _age(intake.database_url, failed, 91)

    async def failed_removed() -> bool:
        return await _kept(intake.database_url, failed) == (0, 0)

    await eventually(failed_removed, timeout=20, what="the failure of 91 days ago removed")
    later = (await intake.triage.post("/v1/referrals", json=referral())).json()["referral_id"]
    await eventually(lambda: _arrived(receiver, later), timeout=20, what="a later change")
    assert len(_changes(receiver, delivered)) == 1  # removed, never queued again
