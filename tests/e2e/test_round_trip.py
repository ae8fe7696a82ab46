"""One referral all the way round, through the separate service processes, exactly as the
upstream UI and a provider would drive it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.referrals import ago, high_risk_da, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def _in_queue(provider: httpx.Client, referral_id: str) -> dict[str, Any] | None:
    items = provider.get("/v1/queue").json()["items"]
    return next((i for i in items if i["referral_id"] == referral_id), None)


def _readable(provider: httpx.Client, referral_id: str) -> dict[str, Any] | None:
    response = provider.get(f"/v1/referrals/{referral_id}")
    if response.status_code == 503:  # intake has not seen the decision yet
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_high_risk_da_referral_goes_round_and_every_step_shows_at_intake(hub: RunningStack) -> None:
    staff, idva = hub.staff("triage"), hub.provider("IDVA")
    body = high_risk_da(contact__name="Round Trip Person", contact__phone="07700 900321")

    created = staff.post("/v1/referrals", json=body)
    assert created.status_code == 202
    assert created.json()["status"] == "received"
    referral_id = created.json()["referral_id"]
    assert created.json()["links"]["self"] == f"/v1/referrals/{referral_id}"

    item = eventually_sync(lambda: _in_queue(idva, referral_id), what="work item in the IDVA queue")
    assert item["priority"] == "urgent"
    assert item["sub_service"] == "core"
    assert item["status"] == "requested"
    assert "contact" not in item

    detail = eventually_sync(
        lambda: _readable(idva, referral_id), what="contact details from the vault"
    )
    assert detail["contact"]["name"] == "Round Trip Person"
    assert detail["contact"]["phone"] == "07700 900321"
    assert detail["status"] == "received"

    accepted = idva.post(f"/v1/referrals/{referral_id}/acknowledge", json={"decision": "accepted"})
    assert accepted.json()["status"] == "accepted"
    attempt = idva.post(
        f"/v1/referrals/{referral_id}/contact-attempts",
        json={"at": ago(minutes=1), "channel": "phone", "result": "contacted"},
    )
    assert attempt.json()["status"] == "in_progress"
    outcome = idva.post(
        f"/v1/referrals/{referral_id}/outcome",
        json={
            "status": "completed",
            "measures": {"cope_and_recover": "improved", "risk_reduced": True},
        },
    )
    assert outcome.json()["status"] == "completed"

    def closed() -> dict[str, Any] | None:
        view: dict[str, Any] = staff.get(f"/v1/referrals/{referral_id}").json()
        return view if view["status"] == "closed" else None

    view = eventually_sync(closed, what="the referral to close at intake")
    decision = view["decision"]
    assert decision["policy_version"]
    assert "marac_referral_required" in decision["flags"]
    assert view["enhanced_rights"] is True
    (route,) = decision["routes"]
    assert route["service"] == "IDVA"
    assert route["rule_ids"] == ["R-IDVA-HIGH-RISK"]
    assert "DASH 15" in route["reason"]
    assert route["status"] == "completed"
    assert [e["event"] for e in route["timeline"]] == [
        "requested",
        "queued",
        "viewed",
        "acknowledged",
        "contact_attempt",
        "outcome",
    ]
    assert [e["status"] for e in route["timeline"]][-1] == "completed"
    assert [e["event"] for e in view["timeline"]][:2] == ["received", "routed"]


def test_referral_with_needs_goes_to_val(hub: RunningStack) -> None:
    staff, val = hub.staff("supervisor"), hub.provider("VAL")
    created = staff.post("/v1/referrals", json=referral())
    referral_id = created.json()["referral_id"]
    item = eventually_sync(lambda: _in_queue(val, referral_id), what="work item in the VAL queue")
    assert item["priority"] == "standard"
    assert item["facts"]["assessment.needs"] == ["emotional_support"]


def test_provider_cannot_see_another_services_referral(hub: RunningStack) -> None:
    staff, idva, isva = hub.staff(), hub.provider("IDVA"), hub.provider("ISVA")
    referral_id = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
    eventually_sync(lambda: _in_queue(idva, referral_id), what="work item in the IDVA queue")
    for path in ("", "/acknowledge"):
        method = isva.get if not path else isva.post
        kwargs: dict[str, Any] = {} if not path else {"json": {"decision": "accepted"}}
        response = method(f"/v1/referrals/{referral_id}{path}", **kwargs)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert _in_queue(isva, referral_id) is None


def test_transition_that_is_not_allowed_is_refused_with_a_reason(hub: RunningStack) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    referral_id = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
    eventually_sync(lambda: _in_queue(idva, referral_id), what="work item in the IDVA queue")
    early = idva.post(
        f"/v1/referrals/{referral_id}/contact-attempts",
        json={"at": ago(minutes=1), "channel": "phone", "result": "contacted"},
    )
    assert early.status_code == 409
    assert "Accept the referral" in early.json()["detail"]
    rejected = idva.post(
        f"/v1/referrals/{referral_id}/acknowledge",
        json={"decision": "rejected", "reason": "capacity"},
    )
    assert rejected.json()["status"] == "rejected"
    late = idva.post(f"/v1/referrals/{referral_id}/outcome", json={"status": "completed"})
    assert late.status_code == 409
    assert "already rejected" in late.json()["detail"]
