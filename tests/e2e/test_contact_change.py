"""A victim rings VAL: the phone the provider has is no longer safe (the abuser has it). On
the running hub: the change reaches the provider's webhook and queue within seconds, the
provider's next read shows the new details, an attempt logged against the old channel after
the change is refused, an adapter killed at that moment still hears of it when it is back,
the timeline names the fields and never a value, and bad changes are refused naming the
fields and echoing nothing (issue 26)."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import httpx

from deploy.localstack.ports import free_port
from tests.support.faults import alive
from tests.support.referrals import ago, high_risk_da, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync
from tests.support.webhook_receiver import Delivery, Receiver, webhook_receiver

NEW_PHONE = "07700 900456"
NEW_NOTES = "only ring the new number, weekday mornings; never leave a message"


def _register(provider: httpx.Client, receiver: Receiver) -> None:
    answer = provider.put("/v1/webhook", json={"url": receiver.url})
    assert answer.status_code == 200, answer.text
    receiver.secret = answer.json()["secret"]


def _queue_item(provider: httpx.Client, referral_id: str) -> dict[str, Any] | None:
    items = provider.get("/v1/queue", params={"limit": 200}).json()["items"]
    return next((i for i in items if i["referral_id"] == referral_id), None)


def _accepted_work(hub: RunningStack, service: str, body: dict[str, Any]) -> str:
    """A referral whose work ``service``'s provider has read (the old details) and accepted."""
    staff, provider = hub.staff(), hub.provider(service)
    referral_id: str = staff.post("/v1/referrals", json=body).json()["referral_id"]
    eventually_sync(lambda: _queue_item(provider, referral_id), what=f"the {service} work item")

    def read() -> httpx.Response | None:
        answer = provider.get(f"/v1/referrals/{referral_id}")
        return answer if answer.status_code == 200 else None

    old = eventually_sync(read, what="the contact details")
    assert old.json()["contact"]["phone"] == body["contact"]["phone"]
    accepted = provider.post(
        f"/v1/referrals/{referral_id}/acknowledge", json={"decision": "accepted"}
    )
    assert accepted.status_code == 200, accepted.text
    return referral_id


def _changed_deliveries(receiver: Receiver, referral_id: str) -> list[Delivery]:
    return [d for d in receiver.received("contact_changed", referral_id) if d.answered == 204]


def test_a_new_phone_and_not_safe_to_contact_reach_the_provider_at_once(
    hub: RunningStack,
) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    body = high_risk_da()
    old_phone = body["contact"]["phone"]
    with webhook_receiver(free_port()) as receiver:
        _register(idva, receiver)
        try:
            referral_id = _accepted_work(hub, "IDVA", body)
            changed = staff.patch(
                f"/v1/referrals/{referral_id}/contact",
                json={
                    "phone": NEW_PHONE,
                    "safe_to_contact": False,
                    "safe_contact_notes": NEW_NOTES,
                },
            )
            assert changed.status_code == 200, changed.text
            assert changed.json()["changed"] == ["phone", "safe_to_contact", "safe_contact_notes"]
            assert "IDVA" in changed.json()["providers_told"]

            # The provider's system is told, signed, in seconds, with codes only.
            pushed = eventually_sync(
                lambda: _changed_deliveries(receiver, referral_id),
                timeout=20,
                what="a work_item.contact_changed webhook",
            )[0]
        finally:
            idva.delete("/v1/webhook")
    assert pushed.verified
    marker = pushed.payload["data"]["contact_changed"]
    assert set(marker["fields"]) == {"phone", "safe_to_contact", "safe_contact_notes"}
    raw = pushed.body.decode()
    for value in (NEW_PHONE, old_phone, NEW_NOTES, body["contact"]["name"]):
        assert value not in raw
    assert "contact" not in pushed.payload["data"]

    # The queue item carries the marker, and the coded fact follows the change.
    item = _queue_item(idva, referral_id)
    assert item is not None
    assert item["contact_changed"]["fields"] == marker["fields"]
    assert item["facts"]["contact.safe_to_contact"] is False

    # A call logged after the change, without reading the new details: refused.
    refused = idva.post(
        f"/v1/referrals/{referral_id}/contact-attempts",
        json={"at": ago(seconds=0), "channel": "phone", "result": "no_answer"},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["title"] == "Contact details changed"
    assert "changed" in refused.json()["detail"]
    assert refused.headers["content-type"].startswith("application/problem+json")

    # The next read shows the new details; the marker comes off; the attempt is taken.
    read = idva.get(f"/v1/referrals/{referral_id}").json()
    assert read["contact"]["phone"] == NEW_PHONE
    assert read["contact"]["safe_to_contact"] is False
    assert read["contact"]["safe_contact_notes"] == NEW_NOTES
    assert "contact_version" not in read["contact"]
    assert read["contact_changed"] is None
    assert _queue_item(idva, referral_id)["contact_changed"] is None  # type: ignore[index]
    taken = idva.post(
        f"/v1/referrals/{referral_id}/contact-attempts",
        json={"at": ago(seconds=0), "channel": "phone", "result": "contacted"},
    )
    assert taken.status_code == 200, taken.text

    # The timeline says what changed and who changed it, never a value, old or new.
    view = staff.get(f"/v1/referrals/{referral_id}").json()
    entry = next(e for e in view["timeline"] if e["event"] == "contact_changed")
    assert entry["fields"] == ["phone", "safe_to_contact", "safe_contact_notes"]
    assert entry["by"]
    text = json.dumps(view)
    for value in (NEW_PHONE, old_phone, NEW_NOTES, "only ring", old_phone.replace(" ", "")):
        assert value not in text

    # Staff read the new details; the previous ones stay sealed in the vault.
    contact = staff.get(
        f"/v1/referrals/{referral_id}/contact", params={"purpose": "safeguarding"}
    ).json()
    assert contact["phone"] == NEW_PHONE


def test_matching_follows_the_new_phone(hub: RunningStack) -> None:
    """Identity keys are computed again: the same person's next referral, known by name and
    the new number only, is linked to this one."""
    staff = hub.staff()
    first = referral(subject__age=40)
    referral_id = staff.post("/v1/referrals", json=first).json()["referral_id"]
    assert (
        staff.patch(f"/v1/referrals/{referral_id}/contact", json={"phone": "07700 900789"})
    ).status_code == 200
    again = referral(
        subject__age=40,
        contact__name=first["contact"]["name"],
        contact__phone="+44 7700 900789",
    )
    linked = staff.post("/v1/referrals", json=again).json()
    assert [r["referral_id"] for r in linked.get("linked_referrals", [])] == [referral_id]


def test_an_adapter_killed_during_the_change_still_tells_its_provider(hub: RunningStack) -> None:
    staff, isva = hub.staff(), hub.provider("ISVA")
    body = referral(incident__crime_types=["sexual_offence"])
    with webhook_receiver(free_port()) as receiver:
        _register(isva, receiver)
        try:
            referral_id = _accepted_work(hub, "ISVA", body)
            before = hub.info()["processes"]["provider_adapter.ISVA"]
            os.kill(before, signal.SIGKILL)
            eventually_sync(lambda: not alive(before), timeout=30, what="the ISVA adapter to die")
            # The change is made while the adapter is down (it restarts a second or more later).
            changed = staff.patch(f"/v1/referrals/{referral_id}/contact", json={"phone": NEW_PHONE})
            assert changed.status_code == 200, changed.text
            eventually_sync(
                lambda: hub.info()["processes"]["provider_adapter.ISVA"] != before,
                timeout=30,
                what="the adapter's restart",
            )
            pushed = eventually_sync(
                lambda: _changed_deliveries(receiver, referral_id),
                timeout=60,
                what="the change, pushed by the restarted adapter",
            )
        finally:
            eventually_sync(
                lambda: isva.delete("/v1/webhook").status_code in (204, 404), timeout=30
            )
    assert pushed[0].payload["data"]["contact_changed"]["fields"] == ["phone"]
    item = eventually_sync(lambda: _queue_item(isva, referral_id), timeout=30)
    assert item["contact_changed"]["fields"] == ["phone"]


def test_bad_changes_are_refused_naming_the_fields_and_echoing_nothing(hub: RunningStack) -> None:
    staff = hub.staff()
    body = referral()
    referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]
    path = f"/v1/referrals/{referral_id}/contact"
    cases: list[tuple[Any, set[str]]] = [
        ({"phone": "ring 07700 900321 after six"}, {"phone"}),
        ({"email": "Secret Name at home"}, {"email"}),
        ({"safe_to_contact": "Secret Name says no"}, {"safe_to_contact"}),
        ({"date_of_birth": "1980-02-03", "phone": "07700 900321"}, {"date_of_birth"}),
        ({"phone": None, "email": None, "address": None}, {"phone"}),
        ({}, {"(body)"}),
        (["07700 900321"], {"(body)"}),
        ({"relationship": "parent"}, {"relationship"}),
    ]
    for sent, fields in cases:
        answer = staff.patch(path, json=sent)
        assert answer.status_code == 422, (sent, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert {e["field"] for e in answer.json()["errors"]} == fields, answer.text
        for secret in ("07700 900321", "Secret Name", "1980-02-03"):
            assert secret not in answer.text
    # Nothing was changed by any of them.
    view = staff.get(f"/v1/referrals/{referral_id}").json()
    assert not [e for e in view["timeline"] if e["event"] == "contact_changed"]
    contact = staff.get(path, params={"purpose": "data_quality"}).json()
    assert contact["phone"] == body["contact"]["phone"]
    # Only triage staff and supervisors may change details; unknown referrals are 404.
    assert hub.staff("commissioner").patch(path, json={"phone": "07700 900321"}).status_code == 403
    unknown = staff.patch(
        "/v1/referrals/00000000-0000-4000-8000-000000000000/contact", json={"phone": "07700 900321"}
    )
    assert unknown.status_code == 404
