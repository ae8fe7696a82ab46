"""Intake's HTTP API against real PostgreSQL and a real broker: what the upstream UI sees
when it gets things right and when it gets them wrong."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.referral_intake.bootstrap import build
from services.referral_intake.settings import IntakeSettings
from tests.support.referrals import marked, referral
from tests.support.services import CREDENTIALS, common_env, serving


@pytest.fixture(scope="module")
async def intake(module_database_url: str, module_kafka: str) -> AsyncIterator[httpx.AsyncClient]:
    env = common_env(module_database_url, module_kafka)
    settings = IntakeSettings(**env)  # type: ignore[arg-type]
    async with serving(build(settings).create_app(), CREDENTIALS.staff_tokens["triage"]) as client:
        yield client


@pytest.fixture
def database_url(module_database_url: str) -> str:
    """These tests share the intake app's database: they compare counts before and after."""
    return module_database_url


async def _count(database_url: str, table: str) -> int:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
    finally:
        await conn.close()


async def test_referral_is_stored_with_its_event_in_one_go(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    body, markers = marked()
    response = await intake.post("/v1/referrals", json=body)
    assert response.status_code == 202
    referral_id = response.json()["referral_id"]
    assert response.headers["location"] == f"/v1/referrals/{referral_id}"

    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        row = await conn.fetchrow(
            "SELECT topic, key, payload FROM outbox WHERE key = $1", referral_id
        )
        assert row is not None
        facts = await conn.fetchval(
            "SELECT facts FROM referrals WHERE referral_id = $1", row["key"]
        )
    finally:
        await conn.close()
    assert row["topic"] == "referral.received.v1"
    assert row["key"] == referral_id
    event = json.loads(row["payload"])
    assert event["type"] == "referral.received.v1"
    assert event["subject"] == referral_id
    assert event["data"]["facts"]["subject"]["age"] == 39  # born 1987-03-14, reported 2026-11-16
    for marker in markers:
        assert marker not in row["payload"]
        assert marker not in facts


async def test_invalid_referral_names_the_fields_echoes_nothing_and_stores_nothing(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    body = referral(
        contact__name="Echo Nobody", subject__age="forty", subject__role="bystander", surprise="x"
    )
    before = (await _count(database_url, "referrals"), await _count(database_url, "outbox"))
    response = await intake.post("/v1/referrals", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert {"subject.age", "subject.role", "surprise"} <= {e["field"] for e in problem["errors"]}
    for echoed in ("Echo Nobody", "forty", "bystander"):
        assert echoed not in response.text
    assert (await _count(database_url, "referrals"), await _count(database_url, "outbox")) == before


@pytest.mark.parametrize(
    ("changes", "field_hint"),
    [
        ({"subject.age": None}, "date_of_birth or age"),
        ({"contact": None}, "contact is required"),
        (
            {"contact.phone": None, "contact.email": None, "contact.address": None},
            "phone, email or address",
        ),
        (
            {"subject.date_of_birth": "2027-01-01", "subject.age": None},
            "after the date the crime was reported",
        ),
    ],
)
async def test_rules_across_fields_are_explained(
    intake: httpx.AsyncClient, changes: dict[str, object], field_hint: str
) -> None:
    body = referral(**{k.replace(".", "__"): v for k, v in changes.items()})
    response = await intake.post("/v1/referrals", json=body)
    assert response.status_code == 422
    assert field_hint in json.dumps(response.json()["errors"])


async def test_self_referral_needs_only_a_preferred_channel(intake: httpx.AsyncClient) -> None:
    body = referral(source="self_referral", contact={"preferred_channel": "email"})
    assert (await intake.post("/v1/referrals", json=body)).status_code == 202


async def test_idempotency_key_replays_the_same_referral_and_refuses_a_different_body(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    headers = {"Idempotency-Key": "upstream-ui-7f3a"}
    before = await _count(database_url, "referrals")
    body = referral()
    first = await intake.post("/v1/referrals", json=body, headers=headers)
    again = await intake.post("/v1/referrals", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["referral_id"] == again.json()["referral_id"]
    different = await intake.post("/v1/referrals", json=referral(subject__age=50), headers=headers)
    assert different.status_code == 409
    assert await _count(database_url, "referrals") == before + 1


async def test_staff_must_sign_in_and_hold_a_role_that_may(intake: httpx.AsyncClient) -> None:
    anonymous = await intake.post("/v1/referrals", json=referral(), headers={"Authorization": ""})
    assert anonymous.status_code == 401
    forged = await intake.post(
        "/v1/referrals", json=referral(), headers={"Authorization": "Bearer x.y.z"}
    )
    assert forged.status_code == 401
    commissioner = {"Authorization": f"Bearer {CREDENTIALS.staff_tokens['commissioner']}"}
    assert (
        await intake.post("/v1/referrals", json=referral(), headers=commissioner)
    ).status_code == 403
    assert (
        await intake.get("/v1/referrals/4b0c1a52-4a36-4b8e-9d7c-7a0b61f1b2aa", headers=commissioner)
    ).status_code == 403
    adapter = {"Authorization": f"Bearer {next(iter(CREDENTIALS.service_tokens.values()))}"}
    assert (await intake.post("/v1/referrals", json=referral(), headers=adapter)).status_code == 403


async def test_unknown_referral_is_not_found(intake: httpx.AsyncClient) -> None:
    response = await intake.get("/v1/referrals/4b0c1a52-4a36-4b8e-9d7c-7a0b61f1b2aa")
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"


async def test_health_and_readiness(intake: httpx.AsyncClient) -> None:
    assert (await intake.get("/healthz")).json() == {"status": "ok"}
    ready = await intake.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_a_body_that_is_not_json_is_explained(intake: httpx.AsyncClient) -> None:
    response = await intake.post(
        "/v1/referrals", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "(body)", "message": "The body is not valid JSON."}
    ]
