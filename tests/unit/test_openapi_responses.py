"""Every operation's successful answer is typed in the OpenAPI documents (issue 17, issue 19:
"typed response models"): a client generated from intake's, the router's or a provider
API's document knows the fields of each 2xx body, and an answer that is not JSON (the
report's CSV, HTML and PDF, a subject access export's page) names its media type. Built
from each service's app as it is composed, without starting anything."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from schemas.answers import Answer, Moment
from schemas.codes import Service
from services.plumbing.answers import typed_router
from services.plumbing.http import install_error_handlers
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.settings import IntakeSettings
from services.router.bootstrap import build as build_router
from services.router.settings import RouterSettings
from tests.support.services import common_env

_ENV: dict[str, Any] = common_env("postgresql://unused@127.0.0.1:1/x", KafkaAccess("127.0.0.1:1"))


def _documents() -> dict[str, dict[str, Any]]:
    return {
        "intake": build_intake(IntakeSettings(**_ENV)).create_app().openapi(),
        "router": build_router(RouterSettings(**_ENV)).create_app().openapi(),
        "provider": build_adapter(
            AdapterSettings(**_ENV, service=Service.IDVA, intake_service_token="unused")
        )
        .create_app()
        .openapi(),
    }


DOCUMENTS = _documents()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _untyped(document: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    """No schema, an empty one, or an object without a single named property."""
    if not schema:
        return True
    schema = _resolve(document, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return any(_untyped(document, part) for part in schema[key])
    if schema.get("type") == "object" or ("type" not in schema and "properties" not in schema):
        return not schema.get("properties")
    return False


def untyped_answers(document: dict[str, Any]) -> list[str]:
    """``METHOD path status media`` of every 2xx answer with an untyped body."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                content = answer.get("content") or {}
                if not content:
                    found.append(f"{method.upper()} {path} {status} (no content)")
                for media, body in content.items():
                    if media.startswith("application/") and "json" in media:
                        if _untyped(document, body.get("schema")):
                            found.append(f"{method.upper()} {path} {status} {media}")
                    elif not body.get("schema"):
                        found.append(f"{method.upper()} {path} {status} {media}")
    return found


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_every_successful_answer_is_typed(service: str) -> None:
    assert untyped_answers(DOCUMENTS[service]) == []


def test_the_check_finds_an_untyped_answer() -> None:
    document = {
        "paths": {
            "/v1/x": {
                "get": {
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"type": "object"}}}},
                        "202": {"content": {"application/json": {"schema": {}}}},
                        "201": {"description": "created"},
                    }
                }
            }
        }
    }
    assert untyped_answers(document) == [
        "GET /v1/x 200 application/json",
        "GET /v1/x 202 application/json",
        "GET /v1/x 201 (no content)",
    ]


def test_reports_name_their_media_types() -> None:
    answer = DOCUMENTS["intake"]["paths"]["/v1/reports/performance"]["get"]["responses"]["200"]
    assert {"application/json", "text/csv", "text/html", "application/pdf"} <= set(
        answer["content"]
    )


class _Shown(Answer):
    referral_id: str
    note: str | None = None
    at: Moment


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = typed_router()

    @router.get("/given", response_model=_Shown)
    async def given() -> Any:
        moment = datetime(2026, 11, 30, 16, 2, 7, 123456, tzinfo=UTC)
        return {"referral_id": "r-1", "at": moment, "added": [1, 2]}

    @router.get("/wrong", response_model=_Shown)
    async def wrong() -> Any:
        return {"referral_id": None, "note": "Jane Example, 07700 900123", "at": "x"}

    app.include_router(router)
    return app


def test_a_response_model_changes_nothing_in_the_answer() -> None:
    """An optional member left out stays out, one the model does not name goes out, and a
    time keeps the handler's ISO 8601 form (not pydantic's ``Z``)."""
    answer = TestClient(_app()).get("/given")
    assert answer.json() == {
        "referral_id": "r-1",
        "at": "2026-11-30T16:02:07.123456+00:00",
        "added": [1, 2],
    }


def test_an_answer_its_model_refuses_is_a_500_problem_that_logs_no_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        answer = TestClient(_app(), raise_server_exceptions=False).get("/wrong")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "Jane" not in caplog.text
    assert "07700" not in caplog.text
    assert any(getattr(r, "fields", None) == ["response.referral_id"] for r in caplog.records)
