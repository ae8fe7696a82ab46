"""A referral's life after routing, through the running hub: consent held then given,
rejection and re-routing, a refused outcome on a rejected route, withdrawal and
cancellation with no further disclosure, and supervisor overrides."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.referrals import ago, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def _view(staff: httpx.Client, referral_id: str) -> dict[str, Any]:
    view: dict[str, Any] = staff.get(f"/v1/referrals/{referral_id}").json()
    return view


def _routes(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Routes by "SERVICE/sub_service"."""
    return {
        f"{r['service']}/{r['sub_service']}": r for r in (view["decision"] or {}).get("routes", [])
    }


def _until(staff: httpx.Client, referral_id: str, test: Any, what: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        view = _view(staff, referral_id)
        return view if test(view) else None

    return eventually_sync(probe, timeout=30, what=what)


def _queued(provider: httpx.Client, referral_id: str) -> dict[str, Any] | None:
    items = provider.get("/v1/queue", params={"limit": 200}).json()["items"]
    return next((i for i in items if i["referral_id"] == referral_id), None)


def test_sexual_offence_waits_for_consent_is_rerouted_on_rejection_and_closes_on_withdrawal(
    hub: RunningStack,
) -> None:
    staff, isva, val = hub.staff("triage"), hub.provider("ISVA"), hub.provider("VAL")
    body = referral(
        incident__crime_types=["sexual_offence"],
        incident__occurred_at=ago(days=50),
        consent__status="not_asked",
    )
    referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]

    # 1. No consent yet: ISVA waits; VAL is asked to seek consent.
    view = _until(
        staff, referral_id, lambda v: v["status"] == "awaiting_consent", "awaiting consent"
    )
    assert [f"{h['service']}/{h['sub_service']}" for h in view["decision"]["held_routes"]] == [
        "ISVA/adult"
    ]
    assert set(_routes(view)) == {"VAL/consent_contact"}
    eventually_sync(lambda: _queued(val, referral_id), what="VAL's consent contact")
    assert _queued(isva, referral_id) is None

    # 2. Consent given: the held ISVA route is dispatched; the consent contact is superseded.
    given = staff.post(
        f"/v1/referrals/{referral_id}/consent", json={"status": "given", "recorded_by": "PC 9"}
    )
    assert given.status_code == 200, given.text
    # The router's decision (referral.routed.v1) and the adapter's queued step
    # (referral.status.v1) travel on two topics: either may reach intake first, so wait for
    # both before reading the referral's state.
    view = _until(
        staff,
        referral_id,
        lambda v: "ISVA/adult" in _routes(v) and v["status"] == "routed",
        "the ISVA route and the referral routed",
    )
    assert view["consent"] == "given"
    view = _until(
        staff,
        referral_id,
        lambda v: _routes(v)["VAL/consent_contact"]["status"] == "cancelled",
        "the consent contact to be cancelled",
    )
    isva_route = _routes(view)["ISVA/adult"]
    assert isva_route["consent_basis"] == "explicit_consent"
    for clock in ("acknowledge_by", "contact_due_by", "code_deadline"):
        assert isva_route[clock]
    eventually_sync(lambda: _queued(isva, referral_id), what="the ISVA work item")

    # 3. ISVA rejects for capacity: the router re-refers to VAL with the reason.
    rejected = isva.post(
        f"/v1/referrals/{referral_id}/acknowledge",
        json={"decision": "rejected", "reason": "capacity", "note": "waiting list closed"},
    )
    assert rejected.json()["status"] == "rejected"
    view = _until(
        staff, referral_id, lambda v: "VAL/re_referral" in _routes(v), "the re-referral to VAL"
    )
    rerouted = _routes(view)["VAL/re_referral"]
    assert rerouted["rule_ids"] == ["R-REJECTED-REROUTE"]
    assert "ISVA rejected the referral (capacity)" in rerouted["reason"]
    assert rerouted["code_deadline"] == isva_route["code_deadline"]  # the Code clock keeps running
    assert _routes(view)["ISVA/adult"]["status"] == "rejected"

    # 4. The rejected route takes no outcome.
    late = isva.post(f"/v1/referrals/{referral_id}/outcome", json={"status": "completed"})
    assert late.status_code == 409
    assert "already rejected" in late.json()["detail"]

    # 5. Consent withdrawn: every open route is cancelled and nothing more is disclosed.
    def val_reads() -> int | None:
        status = val.get(f"/v1/referrals/{referral_id}").status_code
        return status if status == 200 else None

    eventually_sync(val_reads, what="VAL to be able to read the re-referral")
    withdrawn = staff.post(f"/v1/referrals/{referral_id}/consent", json={"status": "withdrawn"})
    assert withdrawn.status_code == 200
    assert val.get(f"/v1/referrals/{referral_id}").status_code in (404, 410)  # at once
    view = _until(staff, referral_id, lambda v: v["status"] == "closed", "the referral to close")
    assert {r["status"] for r in _routes(view).values()} <= {"cancelled", "rejected"}
    assert _routes(view)["VAL/re_referral"]["status"] == "cancelled"

    def provider_told() -> bool:
        return any(
            e["event"] == "cancelled" and e["by"] == "VAL provider"
            for e in _view(staff, referral_id)["timeline"]
        )

    eventually_sync(provider_told, what="the VAL adapter to confirm the cancellation")
    assert val.get(f"/v1/referrals/{referral_id}").status_code == 410

    # Every step is on the timeline, with who caused it.
    timeline = _view(staff, referral_id)["timeline"]
    events = [e["event"] for e in timeline]
    for expected in (
        "received",
        "routed",
        "consent_given",
        "reassessed",
        "acknowledged",
        "rerouted",
        "consent_withdrawn",
        "cancelled",
    ):
        assert expected in events, expected
    assert next(e for e in timeline if e["event"] == "received")["by"] == "local.triage"
    assert next(e for e in timeline if e["event"] == "acknowledged")["by"] == "ISVA provider"
    assert next(e for e in timeline if e["event"] == "rerouted")["by"] == "router"


def test_high_risk_domestic_abuse_stays_with_the_idva_when_consent_is_withdrawn(
    hub: RunningStack,
) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    body = referral(
        incident__crime_types=["domestic_abuse"],
        assessment__dash={"yes_count": 16, "professional_judgement_high": False},
    )
    referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]
    _until(staff, referral_id, lambda v: "IDVA/core" in _routes(v), "the IDVA route")
    assert (
        staff.post(f"/v1/referrals/{referral_id}/consent", json={"status": "withdrawn"}).status_code
        == 200
    )
    view = _until(
        staff, referral_id, lambda v: v["timeline"][-1]["event"] == "reassessed", "re-assessment"
    )
    route = _routes(view)["IDVA/core"]
    assert route["status"] != "cancelled"
    assert route["consent_basis"] == "explicit_consent"

    # Disclosure was on explicit consent, now withdrawn: stopped, though the route stays
    # open under the MARAC safeguarding override.
    assert idva.get(f"/v1/referrals/{referral_id}").status_code in (404, 410)


def test_supervisor_adds_and_removes_a_route_as_a_manual_decision(hub: RunningStack) -> None:
    triage, supervisor, climb = hub.staff("triage"), hub.staff("supervisor"), hub.provider("CLIMB")
    referral_id = triage.post("/v1/referrals", json=referral()).json()["referral_id"]
    _until(triage, referral_id, lambda v: "VAL/core" in _routes(v), "the VAL route")

    request = {
        "action": "add",
        "service": "CLIMB",
        "justification": "sibling at risk of exploitation",
    }
    assert triage.post(f"/v1/referrals/{referral_id}/override", json=request).status_code == 403
    added = supervisor.post(f"/v1/referrals/{referral_id}/override", json=request)
    assert added.status_code == 200, added.text
    view = _until(
        triage, referral_id, lambda v: "CLIMB/core" in _routes(v), "the manual CLIMB route"
    )
    route = _routes(view)["CLIMB/core"]
    assert route["rule_ids"] == ["MANUAL"]
    assert route["timeline"][0]["by"] == "local.supervisor"
    eventually_sync(lambda: _queued(climb, referral_id), what="CLIMB's work item")
    again = supervisor.post(f"/v1/referrals/{referral_id}/override", json=request)
    assert again.status_code == 409

    removal = {"action": "remove", "service": "CLIMB", "justification": "added in error, sorry"}
    assert supervisor.post(f"/v1/referrals/{referral_id}/override", json=removal).status_code == 200
    view = _until(
        triage,
        referral_id,
        lambda v: _routes(v)["CLIMB/core"]["status"] == "cancelled",
        "the CLIMB route to be cancelled",
    )
    override_entries = [e for e in view["timeline"] if e["event"] == "override"]
    assert [e["rule_ids"] for e in override_entries] == [["MANUAL"], ["MANUAL"]]
    assert all(e["by"] == "local.supervisor" for e in override_entries)
    assert view["status"] == "routed"  # VAL still open


def _born_1980(**changes: Any) -> dict[str, Any]:
    """A referral giving the date of birth 5 May 1980 instead of an age."""
    body = referral(subject__date_of_birth="1980-05-05", **changes)
    del body["subject"]["age"]
    return body


def test_the_same_person_and_crime_is_linked_and_a_repeat_victim_is_flagged(
    hub: RunningStack,
) -> None:
    staff = hub.staff()
    first = _born_1980(contact__name="Rowan Repeatson", crime_reference="RR/1/26")
    original = staff.post("/v1/referrals", json=first)
    assert original.status_code == 202

    same = _born_1980(
        contact__name="  rowan  REPEATSON ",
        crime_reference="rr/1/26",
        contact__phone="07700 900999",
    )
    linked = staff.post("/v1/referrals", json=same)
    assert linked.status_code == 200
    assert linked.json()["referral_id"] == original.json()["referral_id"]
    assert linked.json()["linked_to_existing"] is True
    assert linked.json()["reassessed"] is False  # only the phone differs: nothing to decide

    other_crime = {**same, "crime_reference": "RR/2/26"}
    repeat = staff.post("/v1/referrals", json=other_crime)
    assert repeat.status_code == 202
    assert repeat.json()["repeat_victim"] is True
    view = _view(staff, repeat.json()["referral_id"])
    assert view["repeat_victim"] is True
    timeline = _view(staff, original.json()["referral_id"])["timeline"]
    assert any(e["event"] == "resubmitted" and e["submission"] == 2 for e in timeline)
