"""Schema fuzzing (schemathesis, pinned in the dev dependencies) of every staff and provider
operation and the router's policy API on the running hub (real PostgreSQL and Kafka), with
every check schemathesis has (issue 19, "OpenAPI that is the truth"): whatever a client
sends, the answer is never a server error, its status is one the document lists for the
operation, its media type and body are the documented ones (``application/problem+json``
and the problem schema for an error), its documented headers are there, what the schema
forbids is refused, what it allows is accepted (``positive_data_acceptance``) and a
request without credentials is 401. Bounded: a dozen examples per operation.

The documents state every rule a JSON schema can: the cross-field ones too (a referral's
contact unless a self-referral sets ``preferred_channel``, the subject's name when the
contact is someone else, a homicide's serious violence, a DASH count or professional
judgement, a rejection's reason), control characters and blank-only text refused in every
text field (formatted ones too), a provider's own outcome measures and nothing else, a
statutory referral's case reference, a report's financial year. A few rules no JSON schema
can state are in the operations' descriptions, and the positive cases schemathesis makes
are brought within them by the hooks below (``map_case``), each for one named rule; a
negative case is left as generated, and every other check applies to every case:

- a cursor is signed by the API that issued it (any other string is 400): a positive case
  is sent without one (``GET /v1/referrals``, ``GET /v1/status-changes``, ``GET /v1/queue``);
- "not in the future" (JSON Schema has no "now"): a contact attempt's ``at``, a statutory
  referral's ``made_at``, a referral's ``crime_reported_at`` and ``incident.occurred_at``
  (between 1900 and now) are moved into that window, and a referral's
  ``subject.date_of_birth`` to within 130 years before the day the crime was reported;
- one field against another (JSON Schema compares no two values): a simulation's ``to``
  is moved to within 400 days after its ``from``; the report takes ``period`` or ``from``
  and ``to`` (``to`` within five years after ``from``), so a positive case keeps one kind.

Moving a value keeps it as generated when it already keeps the rule. One more hook,
``filter_case``, is about the wire, not the API: a negative case whose query has a member of
no values is not sent, since the URL would not carry it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from schemathesis.hooks import HookContext

from schemas.calendar import england_day
from schemas.codes import Service
from schemas.policy_api import MAX_SIMULATION_DAYS
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.domain.periods import LATEST, MAX_DAYS
from services.referral_intake.settings import IntakeSettings
from services.router.bootstrap import build as build_router
from services.router.settings import RouterSettings
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
ROUTER = schemathesis.openapi.from_dict(build_router(RouterSettings(**_ENV)).create_app().openapi())

FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))

_INSTANT: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
_1900 = datetime(1900, 1, 1, 12, tzinfo=UTC)
_AGE_LIMIT = timedelta(days=365 * 130)


def _instant_within(text: Any, earliest: datetime, latest: datetime) -> Any:
    """``text`` (a date-time) moved into ``earliest`` .. ``latest`` if it is outside."""
    try:
        moment = _INSTANT.validate_python(text)
    except ValidationError:
        return text  # not one: the API refuses it, and says so
    if earliest <= moment <= latest:
        return text
    return (earliest + (moment - earliest) % (latest - earliest)).isoformat()


def _day_within(text: Any, earliest: date, latest: date) -> Any:
    """``text`` (a date) moved into ``earliest`` .. ``latest`` if it is outside."""
    try:
        day = date.fromisoformat(text)
    except (TypeError, ValueError):
        return text
    if earliest <= day <= latest:
        return text
    return (earliest + (day - earliest) % (latest - earliest + timedelta(days=1))).isoformat()


def _referral_dates(body: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    if body.get("crime_reported_at") is not None:
        body["crime_reported_at"] = _instant_within(body["crime_reported_at"], _1900, now)
    incident = body.get("incident")
    if isinstance(incident, dict) and incident.get("occurred_at") is not None:
        incident["occurred_at"] = _instant_within(incident["occurred_at"], _1900, now)
    subject = body.get("subject")
    if isinstance(subject, dict) and subject.get("date_of_birth") is not None:
        try:
            reported = england_day(_INSTANT.validate_python(body.get("crime_reported_at")))
        except ValidationError:
            reported = england_day(now)
        subject["date_of_birth"] = _day_within(
            subject["date_of_birth"], reported - _AGE_LIMIT, reported
        )


def _in_the_past(field: str) -> Callable[[dict[str, Any]], None]:
    def move(body: dict[str, Any]) -> None:
        if body.get(field) is not None:
            body[field] = _instant_within(body[field], _1900, datetime.now(UTC))

    return move


def _within_days(
    first: str, last: str, days: int, latest: date = date.max
) -> Callable[[dict[str, Any]], None]:
    def move(values: dict[str, Any]) -> None:
        try:
            start = date.fromisoformat(values[first])
        except (KeyError, TypeError, ValueError):
            return
        end = min(start + timedelta(days=days - 1), latest) if start < latest else start
        if values.get(last) is not None:
            values[last] = _day_within(values[last], start, end)

    return move


def _one_kind_of_period(query: dict[str, Any]) -> None:
    if query.get("period") is not None or query.get("from") is None or query.get("to") is None:
        query.pop("from", None)
        query.pop("to", None)
    else:
        _within_days("from", "to", MAX_DAYS, LATEST)(query)


def _without_cursor(query: dict[str, Any]) -> None:
    query.pop("cursor", None)


BODY_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "POST /v1/referrals": _referral_dates,
    "POST /v1/assessments/explain": _referral_dates,
    "POST /v1/referrals/{referral_id}/statutory-referrals": _in_the_past("made_at"),
    "POST /v1/referrals/{referral_id}/contact-attempts": _in_the_past("at"),
    "POST /v1/simulations": _within_days("from", "to", MAX_SIMULATION_DAYS + 1),
}
"""Each operation's rules no JSON schema can state, on a positive case's body."""
QUERY_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "GET /v1/referrals": _without_cursor,
    "GET /v1/status-changes": _without_cursor,
    "GET /v1/queue": _without_cursor,
    "GET /v1/reports/performance": _one_kind_of_period,
}
"""The same, on a positive case's query."""


def map_case(context: HookContext, case: Any) -> Any:
    """A positive case brought within its operation's rules no schema can state."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    label = case.operation.label
    if label in BODY_RULES and isinstance(case.body, dict):
        BODY_RULES[label](case.body)
    if label in QUERY_RULES and isinstance(case.query, dict):
        QUERY_RULES[label](case.query)
    return case


def filter_case(context: HookContext, case: Any) -> bool:
    """Not a negative case with a query member of no values (``[]`` or ``{}``): a URL carries
    nothing for it (``urlencode``), so the request sent is not the one generated and
    ``negative_data_rejection`` would fault the API for accepting what it never received."""
    if case.meta is None or case.meta.generation.mode.is_positive:
        return True
    query = case.query if isinstance(case.query, dict) else {}
    return all(value not in ([], {}) for value in query.values())


for _schema in (INTAKE, ADAPTER, ROUTER):
    _schema.hook(map_case)
    _schema.hook(filter_case)


@pytest.fixture(scope="module")
def urls(hub: RunningStack) -> dict[str, Any]:
    return hub.info()


def _answers_as_documented(case: Any, base_url: str, credential: str) -> None:
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {credential}"})


@INTAKE.parametrize()
@FUZZ
def test_intake_answers_as_its_document_says(case: Any, urls: dict[str, Any]) -> None:
    _answers_as_documented(case, urls["intake_url"], urls["staff_tokens"]["supervisor"])


@ADAPTER.parametrize()
@FUZZ
def test_provider_api_answers_as_its_document_says(case: Any, urls: dict[str, Any]) -> None:
    _answers_as_documented(case, urls["provider_api_urls"]["VAL"], urls["provider_keys"]["VAL"])


@ROUTER.parametrize()
@FUZZ
def test_router_answers_as_its_document_says(case: Any, urls: dict[str, Any]) -> None:
    _answers_as_documented(case, urls["router_url"], urls["staff_tokens"]["supervisor"])
