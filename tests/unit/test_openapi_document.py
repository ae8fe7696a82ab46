"""The OpenAPI documents say what the APIs do (issue 19): every error an operation can give
is listed as ``application/problem+json`` with the Problem schema (FastAPI's
``HTTPValidationError`` is gone: a 422 here is a problem), every ``/v1`` operation lists
the request guard's answers and needs the bearer credential, the lists list 400 for a
cursor they did not give out, the report its CSV, HTML and PDF, and the referral body the
rule "a date of birth or an age". Schemathesis checks the running hub against them
(tests/e2e/test_api_fuzz.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.settings import IntakeSettings
from tests.support.services import CREDENTIALS, common_env

_ENV: dict[str, Any] = common_env("postgresql://unused@127.0.0.1:1/x", KafkaAccess("127.0.0.1:1"))


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {
        "intake": build_intake(IntakeSettings(**_ENV)).create_app().openapi(),
        "provider": build_adapter(
            AdapterSettings(**_ENV, service=Service.IDVA, intake_service_token="unused")
        )
        .create_app()
        .openapi(),
    }


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_error_is_a_problem_and_every_v1_operation_lists_the_guards_answers(
    documents: dict[str, dict[str, Any]],
) -> None:
    for document in documents.values():
        assert "HTTPValidationError" not in str(document)
        assert document["components"]["schemas"]["Problem"]["required"] == [
            "type",
            "title",
            "status",
        ]
        for method, path, operation in _operations(document):
            responses = operation["responses"]
            assert {"401", "408", "413", "429", "503"} <= set(responses), (method, path)
            assert operation["security"] == [{"bearer": []}]
            assert "WWW-Authenticate" in responses["401"]["headers"]
            assert "Retry-After" in responses["503"]["headers"]
            for status, answer in responses.items():
                if int(status) >= 400:
                    assert list(answer["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
            if "{" in path:
                assert "404" in responses, (method, path)


def test_what_each_operation_answers_for_its_own_reasons_is_listed(
    documents: dict[str, dict[str, Any]],
) -> None:
    intake, provider = documents["intake"]["paths"], documents["provider"]["paths"]
    assert "400" in intake["/v1/referrals"]["get"]["responses"]
    assert "400" in intake["/v1/status-changes"]["get"]["responses"]
    assert "400" in provider["/v1/queue"]["get"]["responses"]
    assert {"200", "202", "409", "422", "403"} <= set(intake["/v1/referrals"]["post"]["responses"])
    assert "410" in provider["/v1/referrals/{referral_id}"]["get"]["responses"]
    assert "409" in provider["/v1/referrals/{referral_id}/outcome"]["post"]["responses"]
    report = intake["/v1/reports/performance"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv", "text/html", "application/pdf"} <= set(report)


def test_the_referral_body_says_a_date_of_birth_or_an_age(
    documents: dict[str, dict[str, Any]],
) -> None:
    subject = documents["intake"]["components"]["schemas"]["Subject"]
    assert {tuple(choice["required"]) for choice in subject["anyOf"]} == {
        ("date_of_birth",),
        ("age",),
    }
    assert "date_of_birth or an age" in subject["description"]


async def test_a_method_the_path_does_not_have_names_every_method_it_has() -> None:
    app = build_intake(IntakeSettings(**_ENV)).create_app()
    token = CREDENTIALS.staff_tokens["supervisor"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://intake",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        answer = await client.request("DELETE", "/v1/referrals")
    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["allow"] == "GET, POST"  # the worklist and the submission
