"""The triage UI's webhook on the running hub (``make run``'s profile): registered on intake,
it hears of a referral's changes as the router and a provider make them (received, routed,
requested, a rejection and the re-referral), each signed and verifiable with the
``standardwebhooks`` library, in order, with the feed's items as data and no personal data;
the hub's own addresses are refused at registration. The hub's webhook dispatchers poll
only once an hour here (``tests/conftest.py``): each change arrives because the commit that
recorded it woke intake's dispatcher once it had settled."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from standardwebhooks import Webhook

from deploy.localstack.ports import free_port
from tests.support.referrals import marked
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync
from tests.support.webhook_receiver import Delivery, Receiver, webhook_receiver

pytestmark = pytest.mark.e2e
REROUTED = {"rerouted", "re_referral"}


def _pushed(receiver: Receiver, referral_id: str) -> list[Delivery]:
    return [
        d
        for d in receiver.received()
        if d.answered == 204
        and d.payload["type"] == "referral.status_changed"
        and d.payload["data"]["referral_id"] == referral_id
    ]


def _feed(staff: httpx.Client, referral_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "500"}
    while True:
        body = staff.get("/v1/status-changes", params=params).json()
        items += [i for i in body["items"] if i["referral_id"] == referral_id]
        if not body["items"]:
            return items
        params["cursor"] = body["next_cursor"]


def test_the_triage_ui_hears_of_routing_rejection_and_re_referral(hub: RunningStack) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    intake_port = urlsplit(hub.info()["intake_url"]).port
    refused = staff.put("/v1/webhook", json={"url": f"http://127.0.0.1:{intake_port}/v1/referrals"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["rule"] == "hub"
    with webhook_receiver(free_port()) as receiver:
        registered = staff.put("/v1/webhook", json={"url": receiver.url})
        assert registered.status_code == 200, registered.text
        receiver.secret = registered.json()["secret"]
        try:
            body, markers = marked()
            referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]
            eventually_sync(
                lambda: idva.get(f"/v1/referrals/{referral_id}").status_code == 200,
                timeout=40,
                what="the IDVA work item",
            )
            rejected = idva.post(
                f"/v1/referrals/{referral_id}/acknowledge",
                json={"decision": "rejected", "reason": "capacity"},
            )
            assert rejected.status_code == 200, rejected.text
            pushed = eventually_sync(
                lambda: (
                    [
                        d
                        for d in _pushed(receiver, referral_id)
                        if d.payload["data"]["event"] in REROUTED
                    ]
                    and _pushed(receiver, referral_id)
                ),
                timeout=40,
                what="the re-referral at the triage UI's receiver",
            )
        finally:
            staff.delete("/v1/webhook")
    events = [d.payload["data"]["event"] for d in pushed]
    assert events[:2] == ["received", "routed"]
    rejection = next(
        i for i, d in enumerate(pushed) if d.payload["data"].get("status") == "rejected"
    )
    assert (
        events.index("requested") < rejection < max(events.index(e) for e in REROUTED & set(events))
    )
    assert [d.payload["data"] for d in pushed] == _feed(staff, referral_id)[: len(pushed)]
    for delivery in pushed:
        assert delivery.verified
        assert receiver.secret is not None
        Webhook(receiver.secret).verify(delivery.body, delivery.headers)
        for marker in markers:
            assert marker not in delivery.body.decode()
