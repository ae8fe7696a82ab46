"""Schema fuzzing (schemathesis) of every staff and provider operation on the running hub:
whatever a client sends, the answer is never a server error."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.settings import IntakeSettings
from tests.support.services import common_env
from tests.support.stack import RunningStack

_ENV: dict[str, Any] = common_env("postgresql://unused@127.0.0.1:1/x", KafkaAccess("127.0.0.1:1"))
INTAKE = schemathesis.openapi.from_dict(build_intake(IntakeSettings(**_ENV)).create_app().openapi())
ADAPTER = schemathesis.openapi.from_dict(
    build_adapter(AdapterSettings(**_ENV, service=Service.VAL, intake_service_token="unused"))
    .create_app()
    .openapi()
).exclude(path="/v1/webhook")  # a registered URL would be called: never a host outside this machine

FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def urls(hub: RunningStack) -> dict[str, Any]:
    return hub.info()


@INTAKE.parametrize()
@FUZZ
def test_intake_never_answers_with_a_server_error(case: Any, urls: dict[str, Any]) -> None:
    case.call_and_validate(
        base_url=urls["intake_url"],
        headers={"Authorization": f"Bearer {urls['staff_tokens']['supervisor']}"},
        checks=[not_a_server_error],
    )


@ADAPTER.parametrize()
@FUZZ
def test_provider_api_never_answers_with_a_server_error(case: Any, urls: dict[str, Any]) -> None:
    case.call_and_validate(
        base_url=urls["provider_api_urls"]["VAL"],
        headers={"Authorization": f"Bearer {urls['provider_keys']['VAL']}"},
        checks=[not_a_server_error],
    )
