"""Bad input on the HTTP APIs (issue 19's contracts, the "Bad input" standard), as a
newcomer found it: each handed case with its right answer, and the kind of fault checked
everywhere it can happen (every request model of intake, the router and the provider API,
read from the OpenAPI documents the services publish).

1. Lists and maps are bounded (a referral's needs cannot outnumber the need codes); a code
   given twice is kept once.
2. A rule across fields names the field it is about, not ``(body)``.
3. A value of the wrong type for a union (an outcome measure) is one plain error at the
   field, never pydantic's member names (``measures.x.bool``).
4. A bad UUID in a path is a 422 naming the parameter, the same answer whatever was sent.
5. A body that is not sent as JSON is 415, saying what is expected; documented.
6. ``crime_reference`` is a police crime reference, not a box for free text.

The handed cases through the running hub: ``tests/e2e/test_bad_input.py``."""

from __future__ import annotations

import json
import string
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.codes import CceIndicator, CrimeType, Need, RouteStatus
from schemas.events import MAX_VULNERABILITIES
from schemas.outcome_measures import most_measures
from schemas.policy_api import SimulationRequest
from services.plumbing.answers import typed_router
from services.plumbing.http import StrictJson, install_error_handlers, validation_errors
from services.provider_adapter.entrypoints.http import Acknowledgement, OutcomeIn
from services.referral_intake.domain.referral import ReferralRequest
from tests.support.referrals import ago, referral
from tests.unit.test_openapi_responses import DOCUMENTS


def _refused(body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as refused:
        ReferralRequest.model_validate(body)
    return [dict(e) for e in refused.value.errors()]


def _errors_of(model: type[BaseModel], body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The errors refusing ``body``, or None when it is taken."""
    try:
        model.model_validate(body)
    except ValidationError as refused:
        return [dict(e) for e in refused.errors()]
    return None


def _fields(errors: list[dict[str, Any]]) -> list[str]:
    return [".".join(str(p) for p in error["loc"]) for error in errors]


# ---- 1. lists and maps are bounded --------------------------------------------------


def test_case_1_fifty_thousand_copies_of_one_need_are_refused_naming_needs() -> None:
    errors = _refused(referral(assessment__needs=["emotional_support"] * 50_000))
    assert _fields(errors) == ["assessment.needs"]
    assert "at most 8 items" in errors[0]["msg"]


CODE_SETS: list[tuple[str, type[StrEnum], int, int]] = [
    ("assessment.needs", Need, 1, len(Need)),
    ("incident.crime_types", CrimeType, 1, len(CrimeType)),
    ("assessment.cce_indicators", CceIndicator, 0, len(CceIndicator)),
]


@pytest.mark.parametrize(("path", "codes", "least", "most"), CODE_SETS)
@given(data=st.data())
def test_a_set_of_codes_is_bounded_by_its_codes_and_holds_each_once(
    path: str, codes: type[StrEnum], least: int, most: int, data: st.DataObject
) -> None:
    sent = data.draw(st.lists(st.sampled_from([c.value for c in codes]), max_size=2 * most))
    # The rules across fields that need a crime type are kept out of the way.
    body = referral(**{path.replace(".", "__"): sent, "incident__homicide": False})
    if least <= len(sent) <= most:
        kept = ReferralRequest.model_validate(body).model_dump(mode="json")
        section, name = path.split(".")
        assert kept[section][name] == list(dict.fromkeys(sent))
    else:
        assert _fields(_refused(body)) == [path]


def test_vulnerabilities_are_bounded_and_held_once() -> None:
    many = [f"need_{n}" for n in range(MAX_VULNERABILITIES + 1)]
    assert _fields(_refused(referral(subject__vulnerabilities=many))) == ["subject.vulnerabilities"]
    twice = referral(subject__vulnerabilities=["learning_disability"] * 2)
    assert ReferralRequest.model_validate(twice).subject.vulnerabilities == ["learning_disability"]


def test_an_outcome_has_no_more_measures_than_a_service_reports() -> None:
    many = {f"measure_{n}": True for n in range(most_measures() + 1)}
    with pytest.raises(ValidationError) as refused:
        OutcomeIn.model_validate({"status": "completed", "measures": many})
    assert _fields([dict(e) for e in refused.value.errors()]) == ["measures"]


def _request_schemas() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every request body and query parameter schema of every operation of the three APIs:
    (operation, schema, its document)."""
    found = []
    for name, document in DOCUMENTS.items():
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                where = f"{name}: {method.upper()} {path}"
                body = operation.get("requestBody", {}).get("content", {})
                for media in body.values():
                    found.append((where, media["schema"], document))
                for parameter in operation.get("parameters", []):
                    found.append((f"{where} {parameter['name']}", parameter["schema"], document))
    return found


def _unbounded(schema: Any, document: dict[str, Any], seen: set[str]) -> list[str]:
    """Each array without ``maxItems`` and each free map without ``maxProperties``."""
    if isinstance(schema, list):
        return [found for part in schema for found in _unbounded(part, document, seen)]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _unbounded(document["components"]["schemas"][name], document, seen)
    found = []
    if schema.get("type") == "array" and "maxItems" not in schema:
        found.append(f"array {schema.get('title', '')}")
    free = schema.get("additionalProperties")
    if isinstance(free, dict) and "maxProperties" not in schema:
        found.append(f"map {schema.get('title', '')}")
    for value in schema.values():
        found.extend(_unbounded(value, document, seen))
    return found


def test_every_list_and_map_any_api_takes_is_bounded() -> None:
    unbounded = {
        where: found
        for where, schema, document in _request_schemas()
        if (found := _unbounded(schema, document, set()))
    }
    assert unbounded == {}


# ---- 2. rules across fields name their field ----------------------------------------


def _in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"crime_reported_at": _in_days(3)}, ["crime_reported_at"]),
        ({"incident__occurred_at": _in_days(3)}, ["incident.occurred_at"]),
        ({"crime_reported_at": "1899-12-31T12:00:00Z"}, ["crime_reported_at"]),
        (
            {"subject__date_of_birth": _in_days(-1)[:10], "crime_reported_at": ago(days=30)},
            ["subject.date_of_birth"],
        ),
        ({"subject__date_of_birth": "1890-01-01", "subject__age": None}, ["subject.date_of_birth"]),
        ({"subject__age": None}, ["subject.date_of_birth", "subject.age"]),
        ({"contact__relationship": "parent"}, ["subject.name"]),
        ({"contact": None}, ["contact"]),
        (
            {"contact__phone": None, "contact__email": None, "contact__address": None},
            ["contact.phone"],
        ),
        ({"assessment__dash": {"yes_count": None}}, ["assessment.dash.yes_count"]),
        (
            {"incident__homicide": True, "incident__fatal": True},
            ["incident.crime_types", "incident.crime_types"],
        ),
    ],
)
def test_case_2_a_rule_across_fields_names_its_field(
    changes: dict[str, Any], fields: list[str]
) -> None:
    errors = _refused(referral(**changes))
    assert _fields(errors) == fields
    for error in errors:
        assert error["type"] != "value_error" or error["loc"], "a rule reported at (body)"


@given(hours=st.floats(min_value=25, max_value=24 * 3650))
def test_a_crime_reported_in_the_future_is_refused_at_crime_reported_at(hours: float) -> None:
    reported = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    errors = _refused(referral(crime_reported_at=reported, incident__occurred_at=None))
    assert _fields(errors) == ["crime_reported_at"]
    assert errors[0]["msg"] == "is in the future"


def test_the_provider_and_policy_apis_rules_name_their_fields_too() -> None:
    with pytest.raises(ValidationError) as rejection:
        Acknowledgement.model_validate({"decision": "rejected"})
    assert _fields([dict(e) for e in rejection.value.errors()]) == ["reason"]
    with pytest.raises(ValidationError) as period:
        SimulationRequest.model_validate(
            {"candidate_version": "2026-12-01.1", "from": "2026-02-01", "to": "2026-01-01"}
        )
    assert _fields([dict(e) for e in period.value.errors()]) == ["to"]


# ---- 3. a union's wrong type is one plain error at its field ------------------------

PYDANTIC_NAMES = ("bool", "constrained-str", "str", "int", "union", "function", "nullable")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=4,
)


def test_case_3_a_number_for_a_measure_names_the_measure_in_plain_words() -> None:
    with pytest.raises(ValidationError) as refused:
        OutcomeIn.model_validate({"status": "completed", "measures": {"x": 3}})
    assert [(e["loc"], e["msg"]) for e in refused.value.errors()] == [
        (
            ("measures", "x"),
            "must be true or false, or a code (lower case letters, digits and underscores, "
            "starting with a letter)",
        )
    ]


@given(value=json_values)
def test_any_measure_value_is_taken_or_refused_at_the_measure_alone(value: Any) -> None:
    errors = _errors_of(OutcomeIn, {"status": "completed", "measures": {"engaged": value}})
    if errors is None:
        assert value is None or isinstance(value, bool | str)
    else:
        assert [e["loc"] for e in errors] == [("measures", "engaged")]
        assert errors[0]["msg"].startswith("must be true or false")


def test_a_measure_name_that_is_not_a_code_is_refused_at_measures_never_repeated() -> None:
    with pytest.raises(ValidationError) as refused:
        OutcomeIn.model_validate({"status": "completed", "measures": {"Jane Qname 07700": True}})
    (error,) = validation_errors([dict(e) for e in refused.value.errors()])
    assert error["field"] == "measures"
    assert "Qname" not in json.dumps(error)


# ---- 4 and 5: a path value is never echoed; a body not sent as JSON is 415 ----------


def _app() -> FastAPI:
    """A route as every API's is made: ``typed_router``, the shared error answers."""
    app = FastAPI()
    install_error_handlers(app)
    router = typed_router()

    @router.post("/v1/referrals/{referral_id}/acknowledge")
    async def acknowledge(referral_id: uuid.UUID, body: Acknowledgement) -> dict[str, str]:
        return {"decision": body.decision}

    app.include_router(router)
    app.add_middleware(StrictJson)
    return app


APP = _app()


async def _post(path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, **kwargs)


A_PLAIN_422 = {
    "type": "about:blank",
    "title": "Invalid request",
    "status": 422,
    "detail": "Some fields are missing or invalid; nothing was stored.",
    "errors": [
        {
            "field": "referral_id",
            "message": "must be a UUID (32 hexadecimal digits in groups of 8-4-4-4-12)",
        }
    ],
}


async def test_case_4_a_bad_uuid_in_a_path_is_a_plain_422_naming_the_parameter() -> None:
    answer = await _post("/v1/referrals/4b0c1a52-XXXX/acknowledge", json={"decision": "accepted"})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == A_PLAIN_422


@given(segment=st.text(min_size=1, max_size=60))
async def test_whatever_is_in_the_path_the_answer_is_the_same(segment: str) -> None:
    try:
        uuid.UUID(segment)
    except ValueError:
        pass
    else:
        return
    answer = await _post(
        f"/v1/referrals/{quote(segment, safe='')}/acknowledge", json={"decision": "accepted"}
    )
    if answer.status_code == 404:  # a segment the path's template does not match
        return
    assert answer.json() == A_PLAIN_422


ID = "/v1/referrals/4b0c1a52-4a36-4b8e-9d7c-7a0b61f1b2aa/acknowledge"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "application/xml"},
        {},
    ],
)
async def test_case_5_a_body_not_sent_as_json_is_415_saying_what_is_expected(
    headers: dict[str, str],
) -> None:
    answer = await _post(ID, content=b'{"decision": "accepted"}', headers=headers)
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["title"] == "Unsupported media type"
    assert "Content-Type: application/json" in problem["detail"]
    assert problem["accept"] == ["application/json"]
    assert "accepted" not in answer.text


@pytest.mark.parametrize(
    "body", [b"decision=accepted", b'{"decision": "accepted", "decision": "rejected"}', b"NaN"]
)
async def test_without_a_content_type_no_body_is_guessed_at(body: bytes) -> None:
    answer = await _post(ID, content=body)
    assert answer.status_code == 415, answer.text


@pytest.mark.parametrize(
    "media", ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"]
)
async def test_json_under_any_json_media_type_is_read(media: str) -> None:
    body = json.dumps({"decision": "accepted"}).encode()
    answer = await _post(ID, content=body, headers={"Content-Type": media})
    assert answer.status_code == 200, answer.text


def test_every_operation_that_takes_a_body_documents_415_as_a_problem() -> None:
    missing = [
        f"{name}: {method.upper()} {path}"
        for name, document in DOCUMENTS.items()
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
        and "application/problem+json"
        not in operation["responses"].get("415", {}).get("content", {})
    ]
    assert missing == []


def test_the_queue_filter_is_bounded_by_the_statuses_there_are() -> None:
    document = DOCUMENTS["provider"]
    (status,) = [
        p for p in document["paths"]["/v1/queue"]["get"]["parameters"] if p["name"] == "status"
    ]
    listed = next(s for s in status["schema"]["anyOf"] if s.get("type") == "array")
    assert listed["maxItems"] == len(RouteStatus)


# ---- 6. crime_reference is a crime reference ----------------------------------------

GOOD_REFERENCES = [
    "CR/012345/24",
    "43/12345/25",
    "ABC-1234-2025",
    "22/12345/23",
    "rr-1-26",
    "W/0",
    "GUESS/1",
    "CRIS 1234567 25",
    "NFRC240112345678",
]


@pytest.mark.parametrize("reference", GOOD_REFERENCES)
def test_case_6_police_crime_references_of_every_force_are_taken(reference: str) -> None:
    assert ReferralRequest.model_validate(referral(crime_reference=reference)).crime_reference


@pytest.mark.parametrize(
    "reference",
    [
        "Jane Example",
        "jane@example.org",
        "ring after 6pm, 07700 900123",
        "CR/012345/24; husband at home",
        "CR_012345_24",
        "Ö/12345/25",
        "7X",
        "CR/" + "1" * 38,
        " CR/054321/24",
        "CR/054321/24 ",
    ],
)
def test_case_6_free_text_in_the_crime_reference_is_refused_in_plain_words(
    reference: str,
) -> None:
    errors = _refused(referral(crime_reference=reference))
    assert _fields(errors) == ["crime_reference"]
    assert reference not in str(errors[0]["msg"])
    assert "pattern" not in errors[0]["msg"]


@given(reference=st.text(max_size=50))
def test_a_crime_reference_is_taken_only_in_the_police_character_set(reference: str) -> None:
    body = referral(crime_reference=reference)
    errors = _errors_of(ReferralRequest, body)
    if errors is not None:
        assert _fields(errors) == ["crime_reference"]
        return
    taken = ReferralRequest.model_validate(body).crime_reference
    assert taken == reference
    assert 3 <= len(taken) <= 40
    assert taken == taken.strip()
    assert set(taken) <= set(string.ascii_letters + string.digits + "/- ")
    assert any(c.isdigit() for c in taken)
