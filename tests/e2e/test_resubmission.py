"""A second referral never loses a safeguarding fact (issue 14), through the running hub:
each case filed, with its right answer."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx

from tests.support.referrals import referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def _tag() -> str:
    return secrets.token_hex(3)


def _view(staff: httpx.Client, referral_id: str) -> dict[str, Any]:
    answer = staff.get(f"/v1/referrals/{referral_id}")
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


def _open_routes(view: dict[str, Any]) -> set[tuple[str, str, str]]:
    ended = {"completed", "closed", "rejected", "cancelled", "failed"}
    return {
        (r["service"], r["sub_service"], r["priority"])
        for r in (view["decision"] or {}).get("routes", [])
        if r["status"] not in ended
    }


def _until(staff: httpx.Client, referral_id: str, test: Any, what: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        view = _view(staff, referral_id)
        return view if test(view) else None

    return eventually_sync(probe, timeout=30, what=what)


def _routed(staff: httpx.Client, referral_id: str) -> dict[str, Any]:
    return _until(staff, referral_id, lambda v: v["decision"] is not None, "the first decision")


def _person(tag: str, **changes: Any) -> dict[str, Any]:
    """A referral of one person (a name and date of birth) for one crime, per tag."""
    person = {
        "crime_reference": f"RS/{tag}/26",
        "contact__name": f"Resub Qperson {tag}",
        "subject__date_of_birth": "1990-04-02",
    }
    body = referral(**{**person, **changes})
    del body["subject"]["age"]
    return body


def _da(tag: str, yes_count: int, **changes: Any) -> dict[str, Any]:
    return _person(
        tag,
        incident__crime_types=["domestic_abuse"],
        assessment__needs=["safety_planning"],
        assessment__dash={"yes_count": yes_count, "professional_judgement_high": False},
        **changes,
    )


def test_case_1_higher_risk_for_the_same_person_and_crime_is_reassessed_and_escalates(
    hub: RunningStack,
) -> None:
    staff, tag = hub.staff(), _tag()
    first = staff.post("/v1/referrals", json=_da(tag, 10))
    assert first.status_code == 202, first.text
    referral_id = first.json()["referral_id"]
    before = _routed(staff, referral_id)
    assert {s for s, _, _ in _open_routes(before)} == {"VAL"}
    assert before["decision"]["da_risk"] == "medium"

    second_body = _da(tag, 18, assessment__threat_to_life=True)
    explained = staff.post("/v1/assessments/explain", json=second_body).json()
    second = staff.post("/v1/referrals", json=second_body)

    assert second.status_code == 200, second.text
    answer = second.json()
    assert answer["referral_id"] == referral_id
    assert answer["linked_to_existing"] is True
    assert answer["reassessed"] is True
    assert answer["submission"] == 2
    assert set(answer["raised"]) == {"assessment.dash.yes_count", "assessment.threat_to_life"}
    decision_id = answer["decision_id"]
    # Exactly what explain gives for the second body: IDVA urgent, MARAC and emergency.
    expected = {(r["service"], r["sub_service"], r["priority"]) for r in explained["routes"]}
    assert expected == {("IDVA", "core", "urgent")}
    assert {"marac_referral_required", "emergency_escalation"} <= set(explained["flags"])
    view = _until(
        staff, referral_id, lambda v: _open_routes(v) == expected, "IDVA urgent, VAL superseded"
    )
    assert set(explained["flags"]) <= set(view["decision"]["flags"])
    assert view["decision"]["decision_id"] == decision_id
    assert view["decision"]["da_risk"] == "high"
    val = next(r for r in view["decision"]["routes"] if r["service"] == "VAL")
    assert val["status"] == "cancelled"
    assert next(e for e in val["timeline"] if e["event"] == "cancelled")["reason"] == "superseded"
    if answer["decision"] is not None:  # the answer waited for the router
        assert answer["decision"]["decision_id"] == decision_id
        assert {(r["service"], r["priority"]) for r in answer["decision"]["dispatched"]} == {
            ("IDVA", "urgent")
        }
        assert {"service": "VAL", "reason": "superseded"} in answer["decision"]["ended"]

    # The timeline shows each assessment; both submissions are kept, with who sent them.
    events = [e["event"] for e in view["timeline"]]
    assert events.index("received") < events.index("routed") < events.index("resubmitted")
    reassessed = [e for e in view["timeline"] if e["event"] == "reassessed"]
    assert [(e["trigger"], e["decision_id"], e["submissions"]) for e in reassessed] == [
        ("resubmitted", decision_id, [2])
    ]
    assert [s["submission"] for s in view["submissions"]] == [1, 2]
    assert view["submissions"][0]["facts"]["assessment"]["dash"]["yes_count"] == 10
    assert view["submissions"][1]["facts"]["assessment"]["dash"]["yes_count"] == 18
    assert view["submissions"][1]["submitted_by"] == "local.triage"

    idva = hub.provider("IDVA").get("/v1/queue", params={"limit": 200}).json()["items"]
    assert any(i["referral_id"] == referral_id and i["priority"] == "urgent" for i in idva)


def test_a_lower_risk_resubmission_keeps_the_routes_and_says_so(hub: RunningStack) -> None:
    staff, tag = hub.staff(), _tag()
    referral_id = staff.post("/v1/referrals", json=_da(tag, 18)).json()["referral_id"]
    before = _routed(staff, referral_id)
    assert _open_routes(before) == {("IDVA", "core", "urgent")}

    lower = staff.post("/v1/referrals", json=_da(tag, 4))
    assert lower.status_code == 200, lower.text
    answer = lower.json()
    assert answer["linked_to_existing"] is True
    assert answer["reassessed"] is False
    assert answer["kept_from_record"] == ["assessment.dash.yes_count"]
    assert "keeps its assessment and its routes" in answer["detail"]
    after = _view(staff, referral_id)
    assert _open_routes(after) == {("IDVA", "core", "urgent")}
    assert "marac_referral_required" in after["decision"]["flags"]
    # Nothing of it is lost: the lower figure is kept as the second submission.
    assert after["submissions"][1]["facts"]["assessment"]["dash"]["yes_count"] == 4


def test_a_refusal_in_a_resubmission_is_a_consent_withdrawal(hub: RunningStack) -> None:
    staff, tag = hub.staff(), _tag()
    referral_id = staff.post("/v1/referrals", json=_person(tag)).json()["referral_id"]
    assert {s for s, _, _ in _open_routes(_routed(staff, referral_id))} == {"VAL"}

    refused = staff.post(
        "/v1/referrals", json=_person(tag, consent={"status": "refused", "recorded_by": "PC 7"})
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["consent_change"] == "withdrawn"
    view = _until(staff, referral_id, lambda v: not _open_routes(v), "the VAL route to end")
    assert view["consent"] == "withdrawn"
    val = next(r for r in view["decision"]["routes"] if r["service"] == "VAL")
    assert next(e for e in val["timeline"] if e["event"] == "cancelled")["reason"] == (
        "consent_withdrawn"
    )
    withdrawn = [e for e in view["timeline"] if e["event"] == "consent_withdrawn"]
    assert withdrawn[0]["via"] == "resubmission"
    val = hub.provider("VAL")
    eventually_sync(
        lambda: val.get(f"/v1/referrals/{referral_id}").status_code == 410,
        what="no more disclosure to VAL",
    )


def test_case_2_a_suspect_then_the_victim_are_two_referrals_cross_linked(
    hub: RunningStack,
) -> None:
    staff, tag = hub.staff(), _tag()
    suspect = _person(
        tag,
        subject__role="suspect",
        incident__crime_types=["drug_possession", "domestic_abuse"],
        incident__drug_possession={"personal_use": True},
        assessment__needs=["none"],
    )
    suspect_id = staff.post("/v1/referrals", json=suspect).json()["referral_id"]
    assert {s for s, _, _ in _open_routes(_routed(staff, suspect_id))} == {"DIVERT"}

    victim = staff.post("/v1/referrals", json=_da(tag, 17))
    assert victim.status_code == 202, victim.text
    victim_id = victim.json()["referral_id"]
    assert victim_id != suspect_id
    assert victim.json()["linked_referrals"] == [
        {"referral_id": suspect_id, "relation": "same_crime"}
    ]
    view = _routed(staff, victim_id)
    assert _open_routes(view) == {("IDVA", "core", "urgent")}
    assert "marac_referral_required" in view["decision"]["flags"]
    assert view["repeat_victim"] is False  # a suspect before, not a victim
    assert [(r["referral_id"], r["role"]) for r in view["linked_referrals"]] == [
        (suspect_id, "suspect")
    ]
    other_way = _view(staff, suspect_id)["linked_referrals"]
    assert [(r["referral_id"], r["role"]) for r in other_way] == [(victim_id, "victim")]
    assert {s for s, _, _ in _open_routes(_view(staff, suspect_id))} == {"DIVERT"}


def test_case_3_two_children_through_one_parent_are_two_referrals(hub: RunningStack) -> None:
    staff, tag = hub.staff(), _tag()
    parent = {"contact__name": f"Parent Qasibling {tag}", "contact__phone": "07700 900305"}
    ids = []
    for age in (8, 12):
        as_filed = referral(crime_reference=f"SB/{tag}/26", subject__age=age, **parent)
        answer = staff.post("/v1/referrals", json=as_filed)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["referral_id"])
    assert len(set(ids)) == 2

    # As the contract asks for it: the parent is the contact, each child is named.
    named = []
    for child in ("Amir", "Zara"):
        body = referral(
            crime_reference=f"SB/{tag}/26",
            subject__age=9,
            subject__name=f"{child} Qasibling {tag}",
            contact__relationship="parent",
            **parent,
        )
        answer = staff.post("/v1/referrals", json=body)
        assert answer.status_code == 202, answer.text
        named.append(answer.json()["referral_id"])
    assert len(set(named) | set(ids)) == 4
    missing = referral(crime_reference=f"SB/{tag}/26", contact__relationship="parent", **parent)
    refused = staff.post("/v1/referrals", json=missing)
    assert refused.status_code == 422
    assert "subject.name" in refused.text


def test_case_5_names_written_differently_or_in_other_scripts_are_one_person(
    hub: RunningStack,
) -> None:
    staff = hub.staff()
    for first_name, second_name in (
        ("Siobhan O'Qabrien", "Siobhan OQabrien"),
        ("Олена Шевченко", "ОЛЕНА ШЕВЧЕНКО"),
        ("فاطمة الزهراء", "فَاطِمَة الزَّهْرَاء"),
    ):
        tag = _tag()
        first = staff.post("/v1/referrals", json=_person(tag, contact__name=first_name))
        assert first.status_code == 202, first.text
        referral_id = first.json()["referral_id"]
        _routed(staff, referral_id)
        second = staff.post(
            "/v1/referrals",
            json=_person(tag, contact__name=second_name, assessment__needs=["housing"]),
        )
        assert second.status_code == 200, (first_name, second.text)
        assert second.json()["referral_id"] == referral_id
        assert second.json()["raised"] == ["assessment.needs"]
        # Another crime of the same person: a new referral, a repeat victim, cross-linked.
        other = staff.post(
            "/v1/referrals",
            json=_person(tag, contact__name=second_name, crime_reference=f"OT/{tag}/26"),
        )
        assert other.status_code == 202, other.text
        assert other.json()["repeat_victim"] is True
        assert referral_id in [r["referral_id"] for r in other.json()["linked_referrals"]]


def test_case_6_ambiguous_json_is_refused_by_both_apis_and_changes_nothing(
    hub: RunningStack,
) -> None:
    staff, tag = hub.staff(), _tag()
    body = referral(crime_reference=f"AM/{tag}/26")
    text = json.dumps(body)
    ambiguous = text.replace(
        '"consent": {"status": "given"', '"consent": {"status": "refused", "status": "given"'
    )
    assert ambiguous != text
    before = hub.referrals_stored()
    refused = staff.post(
        "/v1/referrals", content=ambiguous, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [
        {"field": "consent.status", "message": "appears more than once in its object"}
    ]
    assert hub.referrals_stored() == before

    # The provider API too: an acknowledgement whose decision is a parser's guess.
    referral_id = staff.post("/v1/referrals", json=referral()).json()["referral_id"]
    val = hub.provider("VAL")
    eventually_sync(
        lambda: val.get(f"/v1/referrals/{referral_id}").status_code == 200, what="the VAL item"
    )
    answer = val.post(
        f"/v1/referrals/{referral_id}/acknowledge",
        content=b'{"decision": "rejected", "decision": "accepted", "reason": "capacity"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "decision"
    assert val.get(f"/v1/referrals/{referral_id}").json()["status"] == "received"
