"""The published request schemas say what the API accepts (issue 19, "schemathesis with every
check finds nothing"): each rule schemathesis's ``positive_data_acceptance`` found the
documents leaving out is stated in them, and each body below is valid by the document
exactly when the API's model accepts it. These are the cases the fuzzing found (and their
neighbours); tests/e2e/test_api_fuzz.py runs the whole check against the running hub."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import BaseModel, ValidationError

from schemas import outcome_measures
from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.domain.periods import PeriodError, parse_period
from services.referral_intake.domain.referral import ContactChange, ReferralRequest
from services.referral_intake.entrypoints.http import OverrideIn, StatutoryReferralIn
from services.referral_intake.settings import IntakeSettings
from services.router.bootstrap import build as build_router
from services.router.entrypoints.http import ExplainRequest
from services.router.settings import RouterSettings
from tests.support.services import common_env

_ENV: dict[str, Any] = common_env("postgresql://unused@127.0.0.1:1/x", KafkaAccess("127.0.0.1:1"))


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    adapters = {
        service.value: build_adapter(
            AdapterSettings(**_ENV, service=service, intake_service_token="unused")
        )
        .create_app()
        .openapi()
        for service in (Service.VAL, Service.DIVERT)
    }
    return {
        "intake": build_intake(IntakeSettings(**_ENV)).create_app().openapi(),
        "router": build_router(RouterSettings(**_ENV)).create_app().openapi(),
        **adapters,
    }


def _published_valid(document: dict[str, Any], component: str, body: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return bool(validator.is_valid(body))


def _accepted(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def _referral(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "police_officer",
        "local_authority": "shropshire",
        "subject": {"role": "victim", "age": 34},
        "contact": {"phone": "07700 900123"},
        "incident": {"crime_types": ["stalking"]},
        "assessment": {"needs": ["emotional_support"]},
        "consent": {"status": "given"},
    }
    body.update(changes)
    return body


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = changed
    for name in parents:
        node = node[name]
    node[leaf] = value
    return changed


REFERRALS: list[tuple[str, dict[str, Any], bool]] = [
    ("a phone to call", _referral(), True),
    ("no contact at all", _referral(contact=None), False),
    ("a contact with no means of contact", _referral(contact={"name": "Sam"}), False),
    (
        "a self-referral that chose a channel",
        _referral(source="self_referral", contact={"preferred_channel": "phone"}),
        True,
    ),
    (
        "a channel without a self-referral",
        _referral(contact={"preferred_channel": "phone"}),
        False,
    ),
    (
        "a parent as the contact, the child unnamed",
        _with(_referral(), "contact.relationship", "parent"),
        False,
    ),
    (
        "a parent as the contact, the child named",
        _with(_with(_referral(), "contact.relationship", "parent"), "subject.name", "Alex"),
        True,
    ),
    (
        "a homicide without serious violence",
        _with(_referral(), "incident.homicide", True),
        False,
    ),
    (
        "a homicide with serious violence",
        _with(
            _with(_referral(), "incident.homicide", True),
            "incident.crime_types",
            ["serious_violence"],
        ),
        True,
    ),
    ("a fatal collision that is not one", _with(_referral(), "incident.fatal", True), False),
    ("an age written 34.0 (a JSON integer)", _with(_referral(), "subject.age", 34.0), True),
    ("an age of 34.5", _with(_referral(), "subject.age", 34.5), False),
    ("an equality code of the Census", _referral(equality={"sex": "female"}), True),
    ("an equality answer in words", _referral(equality={"sex": "woman"}), False),
    ("a DASH of nothing", _with(_referral(), "assessment.dash", {"yes_count": None}), False),
    (
        "a control character in an email address",
        _referral(contact={"email": "sam\x15@example.org"}),
        False,
    ),
    (
        "a next-line character (blank to the API) in an email address",
        _referral(contact={"email": "sam\x85@example.org"}),
        False,
    ),
    ("an address of blanks only", _referral(contact={"address": "   "}), False),
    ("a phone number of blanks only", _referral(contact={"phone": "     "}), False),
    ("a phone number with blanks around it", _referral(contact={"phone": " 999 "}), True),
]


@pytest.mark.parametrize(("case", "body", "valid"), REFERRALS, ids=[r[0] for r in REFERRALS])
def test_a_referral_is_valid_by_its_schema_when_the_api_accepts_it(
    documents: dict[str, dict[str, Any]], case: str, body: dict[str, Any], valid: bool
) -> None:
    assert _accepted(ReferralRequest, body) is valid, case
    assert _published_valid(documents["intake"], "ReferralRequest", body) is valid, case


def _statutory(reference: str) -> dict[str, Any]:
    made = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return {"flag": "marac_referral_required", "made_at": made, "reference": reference}


OTHERS: list[tuple[str, str, type[BaseModel], Any, bool]] = [
    ("a case reference", "StatutoryReferralIn", StatutoryReferralIn, _statutory("MASH/12"), True),
    ("no digit", "StatutoryReferralIn", StatutoryReferralIn, _statutory("MASH"), False),
    ("a reference of two", "StatutoryReferralIn", StatutoryReferralIn, _statutory("00"), False),
    ("a justification of one letter in blanks", "OverrideIn", OverrideIn,
     {"action": "add", "service": "VAL", "justification": "   a      "}, False),
    ("a justification", "OverrideIn", OverrideIn,
     {"action": "add", "service": "VAL", "justification": "Risk to life: IDVA too"}, True),
    ("a control character in a changed email", "ContactChange", ContactChange,
     {"email": "\x15a@b.c"}, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "component", "model", "body", "valid"), OTHERS, ids=[o[0] for o in OTHERS]
)
def test_other_intake_bodies_are_valid_by_their_schema_when_the_api_accepts_them(
    documents: dict[str, dict[str, Any]],
    case: str,
    component: str,
    model: type[BaseModel],
    body: Any,
    valid: bool,
) -> None:
    assert _accepted(model, body) is valid, case
    assert _published_valid(documents["intake"], component, body) is valid, case


def test_the_routers_facts_need_a_dash_count_or_professional_judgement(
    documents: dict[str, dict[str, Any]],
) -> None:
    facts = {
        "referral_id": "0b9d2a53-2f3e-4f1c-9a3e-8f6a1c2d3e4f",
        "received_at": datetime.now(UTC).isoformat(),
        "reported_at": None,
        "source": "police_officer",
        "local_authority": "shropshire",
        "subject": {"role": "victim", "age": 34},
        "incident": {"crime_types": ["stalking"]},
        "assessment": {"needs": ["emotional_support"], "dash": {"yes_count": 14}},
        "consent": "given",
    }
    for dash, valid in (
        ({"yes_count": 14}, True),
        ({"professional_judgement_high": True}, True),
        ({"yes_count": None, "professional_judgement_high": False}, False),
    ):
        body = {"facts": _with(facts, "assessment.dash", dash)}
        assert _accepted(ExplainRequest, body) is valid, dash
        assert _published_valid(documents["router"], "ExplainRequest", body) is valid, dash


@pytest.mark.parametrize("service", [Service.VAL, Service.DIVERT])
def test_each_providers_document_names_its_own_outcome_measures_and_no_other(
    documents: dict[str, dict[str, Any]], service: Service
) -> None:
    document = documents[service.value]
    every_measure = {
        name: True if kind == "bool" else kind[0]
        for other in Service
        for name, kind in outcome_measures.allowed(other).items()
    }
    for name, value in every_measure.items():
        body = {"status": "completed", "measures": {name: value}}
        reported = not outcome_measures.problems(service, {name: value})
        assert _published_valid(document, "OutcomeIn", body) is reported, (service, name)
    for name, kind in outcome_measures.allowed(service).items():
        wrong = "improved" if kind == "bool" else True
        body = {"status": "completed", "measures": {name: wrong}}
        assert outcome_measures.problems(service, {name: wrong})
        assert not _published_valid(document, "OutcomeIn", body), (service, name)
        assert _published_valid(document, "OutcomeIn", {"status": "completed", "measures": {}})


@pytest.mark.parametrize(
    ("at", "field"),
    [
        ("0001-01-01T00:00:00+05:00", "incident.occurred_at"),
        ("9999-12-31T23:59:00-05:00", "incident.occurred_at"),
        ("0001-01-01T00:00:00+05:00", "crime_reported_at"),
    ],
)
def test_an_instant_at_the_edge_of_the_calendar_is_refused_not_an_error(
    at: str, field: str
) -> None:
    # Found by the fuzzing: the day in England of these is out of a date's range, and the
    # OverflowError was a 500.
    with pytest.raises(ValidationError) as refused:
        ReferralRequest.model_validate(_with(_referral(), field, at))
    assert [".".join(map(str, error["loc"])) for error in refused.value.errors()] == [field]
    assert refused.value.errors()[0]["msg"] in ("is before 1900", "is in the future")


def test_the_reports_period_is_a_financial_year_whose_halves_agree(
    documents: dict[str, dict[str, Any]],
) -> None:
    parameters = documents["intake"]["paths"]["/v1/reports/performance"]["get"]["parameters"]
    period = next(p for p in parameters if p["name"] == "period")
    pattern = re.compile(period["schema"]["pattern"])
    for period, valid in (("2026-27", True), ("2026-27Q3", True), ("2026-28", False)):
        assert bool(pattern.search(period)) is valid, period
        assert _period_read(period) is valid, period


def _period_read(period: str) -> bool:
    try:
        parse_period(period, None, None, today=date.today())
    except PeriodError:
        return False
    return True


def test_every_document_is_valid_openapi_3_1(documents: dict[str, dict[str, Any]]) -> None:
    # The specification's own schema, and each schema in it valid JSON Schema 2020-12 whose
    # patterns compile: the rules above are stated in constructs any OpenAPI 3.1 tool reads.
    for document in documents.values():
        validate(document)
        for schema in document["components"]["schemas"].values():
            Draft202012Validator.check_schema(schema)
        for pattern in _patterns(document):
            re.compile(pattern)


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)
