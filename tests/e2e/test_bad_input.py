"""A newcomer's bad input on the running hub's three APIs (issue 19's contracts, the "Bad
input" standard), each case by the same request with its right answer: a problem naming the
field, nothing stored, nothing of the input repeated. The whole kind of each fault, across
every request model, is in ``tests/unit/test_bad_input.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.referrals import referral
from tests.support.stack import RunningStack

UNKNOWN = "4b0c1a52-4a36-4b8e-9d7c-7a0b61f1b2aa"


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    return problem


def _fields(answer: httpx.Response) -> list[str]:
    return [error["field"] for error in _problem(answer, 422)["errors"]]


def test_case_1_fifty_thousand_copies_of_one_need_are_refused_and_nothing_stored(
    hub: RunningStack,
) -> None:
    staff = hub.staff()
    before = hub.referrals_stored()
    answer = staff.post(
        "/v1/referrals", json=referral(assessment__needs=["emotional_support"] * 50_000)
    )
    assert _fields(answer) == ["assessment.needs"]
    assert hub.referrals_stored() == before
    # Given twice, a need is one need: the referral is taken, and holds it once.
    twice = staff.post(
        "/v1/referrals", json=referral(assessment__needs=["safety_planning", "safety_planning"])
    )
    assert twice.status_code == 202, twice.text
    # A provider's queue filter has no more statuses than there are.
    queue = hub.provider("VAL").get("/v1/queue", params=[("status", "requested")] * 50)
    assert _fields(queue) == ["status"]


def test_case_2_rules_across_fields_name_the_field_and_repeat_nothing(
    hub: RunningStack,
) -> None:
    staff = hub.staff()
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    before = hub.referrals_stored()
    reported = staff.post("/v1/referrals", json=referral(crime_reported_at=future.isoformat()))
    assert _fields(reported) == ["crime_reported_at"]
    born = staff.post(
        "/v1/referrals",
        json=referral(subject__date_of_birth=future.date().isoformat(), subject__age=None),
    )
    assert _fields(born) == ["subject.date_of_birth"]
    neither = staff.post("/v1/referrals", json=referral(subject__age=None))
    assert _fields(neither) == ["subject.date_of_birth", "subject.age"]
    for answer in (reported, born):
        assert str(future.year) not in answer.text
    assert hub.referrals_stored() == before
    rejection = hub.provider("IDVA").post(
        f"/v1/referrals/{UNKNOWN}/acknowledge", json={"decision": "rejected"}
    )
    assert _fields(rejection) == ["reason"]


def test_case_3_a_measure_of_the_wrong_type_is_named_in_plain_words(hub: RunningStack) -> None:
    idva = hub.provider("IDVA")
    for value in (3, ["yes"], {"a": True}, "Not A Code"):
        answer = idva.post(
            f"/v1/referrals/{UNKNOWN}/outcome",
            json={"status": "completed", "measures": {"engaged": value}},
        )
        (error,) = _problem(answer, 422)["errors"]
        assert error == {
            "field": "measures.engaged",
            "message": "must be true or false, or a code (lower case letters, digits and "
            "underscores, starting with a letter)",
        }


def test_case_4_a_bad_uuid_in_a_path_is_a_422_naming_the_parameter_and_nothing_else(
    hub: RunningStack,
) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    answers = [
        staff.get("/v1/referrals/4b0c1a52-QZQZ"),
        staff.get("/v1/referrals/QZQZ"),
        staff.post("/v1/referrals/QZQZ-7/consent", json={"status": "given"}),
        idva.get("/v1/referrals/4b0c1a52-QZQZ"),
        idva.delete("/v1/keys/QZQZ"),
    ]
    problems = [_problem(answer, 422) for answer in answers]
    for problem, answer in zip(problems, answers, strict=True):
        assert [e["field"] for e in problem["errors"]] in (["referral_id"], ["key_id"])
        assert "QZ" not in answer.text
    # The same answer whatever was sent: nothing of it can be in there.
    assert problems[0] == problems[1] == problems[3]


def test_case_5_a_body_not_sent_as_json_is_415_saying_what_is_expected(
    hub: RunningStack,
) -> None:
    info = hub.info()
    staff, idva = hub.staff(), hub.provider("IDVA")
    router = httpx.Client(
        base_url=info["router_url"],
        headers={"Authorization": f"Bearer {info['staff_tokens']['triage']}"},
        timeout=10,
    )
    before = hub.referrals_stored()
    answers = [
        staff.post("/v1/referrals", content=b"source=police_officer", headers=_plain()),
        # No Content-Type at all: the body is not guessed at.
        staff.post("/v1/referrals", content=b'{"source": "val"}'),
        idva.post(f"/v1/referrals/{UNKNOWN}/acknowledge", content=b"accepted", headers=_plain()),
        router.post("/v1/decisions/explain", content=b"facts", headers=_plain()),
    ]
    for answer in answers:
        problem = _problem(answer, 415)
        assert "Content-Type: application/json" in problem["detail"]
        assert problem["accept"] == ["application/json"]
    assert hub.referrals_stored() == before
    # It is in the published documents too.
    document = staff.get("/openapi.json").json()
    assert "415" in document["paths"]["/v1/referrals"]["post"]["responses"]


def _plain() -> dict[str, str]:
    return {"Content-Type": "text/plain"}


def test_case_6_crime_reference_takes_a_police_reference_and_no_free_text(
    hub: RunningStack,
) -> None:
    staff = hub.staff()
    before = hub.referrals_stored()
    for typed_in_the_wrong_box in ("Jane Qexample", "ring Jane Qexample after six 07700 900123"):
        answer = staff.post("/v1/referrals", json=referral(crime_reference=typed_in_the_wrong_box))
        (error,) = _problem(answer, 422)["errors"]
        assert error["field"] == "crime_reference"
        assert "police crime reference" in error["message"]
        assert "Qexample" not in answer.text
    assert hub.referrals_stored() == before
    for reference in ("CR/012345/24", "43/12345/25", "ABC-1234-2025"):
        taken = staff.post("/v1/referrals", json=referral(crime_reference=reference))
        assert taken.status_code in (200, 202), taken.text
