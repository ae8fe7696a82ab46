"""Intake's HTTP API against real PostgreSQL and a real broker: what the upstream UI sees
when it gets things right and when it gets them wrong."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.bootstrap import build
from services.referral_intake.domain.identity import IDENTITY_VERSION, identity_keys
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers import identity as identity_handler
from services.referral_intake.handlers import watchdog
from services.referral_intake.settings import IntakeSettings
from tests.support.consuming import applied_at_intake
from tests.support.intake import ACK, T0, router_decided, urgent_idva_route
from tests.support.referrals import marked, referral
from tests.support.services import CREDENTIALS, TEST_VAULT, common_env, serving

IDENTITY_KEY = str(common_env("", KafkaAccess(""))["identity_hash_key"]).encode()


@pytest.fixture(scope="module")
async def intake(
    module_database_url: str, module_kafka: KafkaAccess
) -> AsyncIterator[httpx.AsyncClient]:
    env = common_env(module_database_url, module_kafka)
    env["resubmission_decision_wait_seconds"] = 0.2  # no router here: do not wait for one
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
    assert row["topic"] == topics.REFERRAL_RECEIVED
    assert row["key"] == referral_id
    event = json.loads(row["payload"])
    assert event["type"] == events.REFERRAL_RECEIVED
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
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "capacity": "ok"}


async def test_a_body_that_is_not_json_is_explained(intake: httpx.AsyncClient) -> None:
    response = await intake.post(
        "/v1/referrals", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "(body)", "message": "The body is not valid JSON."}
    ]


async def _decided(database_url: str, intake: httpx.AsyncClient, **changes: object) -> str:
    """A referral with a decision recorded (as the router would), routed to IDVA."""
    referral_id = (await intake.post("/v1/referrals", json=referral(**changes))).json()[
        "referral_id"
    ]
    event = router_decided(referral_id, decided_at=T0, routes=[urgent_idva_route()])
    pool = await db.create_pool(database_url, "intake", application_name="test")
    try:
        await applied_at_intake(pool, event)
    finally:
        await pool.close()
    return str(referral_id)


async def test_consent_changes_are_checked(intake: httpx.AsyncClient, database_url: str) -> None:
    unknown = await intake.post(
        "/v1/referrals/4b0c1a52-4a36-4b8e-9d7c-7a0b61f1b2aa/consent", json={"status": "given"}
    )
    assert unknown.status_code == 404
    waiting = (await intake.post("/v1/referrals", json=referral())).json()["referral_id"]
    early = await intake.post(f"/v1/referrals/{waiting}/consent", json={"status": "given"})
    assert early.status_code == 409
    assert "still being routed" in early.json()["detail"]
    decided = await _decided(database_url, intake)
    assert (
        await intake.post(f"/v1/referrals/{decided}/consent", json={"status": "maybe"})
    ).status_code == 422
    again = await intake.post(f"/v1/referrals/{decided}/consent", json={"status": "given"})
    assert again.status_code == 409
    assert "already recorded as given" in again.json()["detail"]
    withdrawn = await intake.post(f"/v1/referrals/{decided}/consent", json={"status": "withdrawn"})
    assert withdrawn.status_code == 200
    view = (await intake.get(f"/v1/referrals/{decided}")).json()
    assert view["consent"] == "withdrawn"
    assert view["timeline"][-1] == {
        **view["timeline"][-1],
        "event": "consent_withdrawn",
        "by": "local.triage",
    }


async def test_overrides_are_for_supervisors_and_must_make_sense(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    decided = await _decided(database_url, intake)
    body = {"action": "remove", "service": "ISVA", "justification": "no longer needed here"}
    assert (await intake.post(f"/v1/referrals/{decided}/override", json=body)).status_code == 403
    supervisor = {"Authorization": f"Bearer {CREDENTIALS.staff_tokens['supervisor']}"}
    nothing = await intake.post(f"/v1/referrals/{decided}/override", json=body, headers=supervisor)
    assert nothing.status_code == 409
    assert "no open route to ISVA" in nothing.json()["detail"]
    duplicate = {"action": "add", "service": "IDVA", "justification": "belt and braces, really"}
    twice = await intake.post(
        f"/v1/referrals/{decided}/override", json=duplicate, headers=supervisor
    )
    assert twice.status_code == 409
    short = {"action": "add", "service": "CLIMB", "justification": "why"}
    assert (
        await intake.post(f"/v1/referrals/{decided}/override", json=short, headers=supervisor)
    ).status_code == 422


async def test_breached_worklist_lists_referrals_with_an_open_breached_route(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    decided = await _decided(database_url, intake, local_authority="herefordshire")
    pool = await db.create_pool(database_url, "intake", application_name="test")
    try:
        await watchdog.check_deadlines(pool, ACK + timedelta(minutes=1))
    finally:
        await pool.close()
    page = (
        await intake.get(
            "/v1/referrals", params={"breached": "true", "local_authority": "herefordshire"}
        )
    ).json()
    assert decided in [i["referral_id"] for i in page["items"]]
    item = next(i for i in page["items"] if i["referral_id"] == decided)
    assert item["breached"] is True
    assert item["routes"][0]["status"] == "escalated"
    clear = (
        await intake.get(
            "/v1/referrals", params={"breached": "false", "local_authority": "herefordshire"}
        )
    ).json()
    assert decided not in [i["referral_id"] for i in clear["items"]]
    assert (await intake.get("/v1/referrals", params={"cursor": "nonsense"})).status_code == 400


async def test_worklist_pages_with_a_cursor(intake: httpx.AsyncClient) -> None:
    for _ in range(3):
        await intake.post("/v1/referrals", json=referral(local_authority="outside_area"))
    first = (
        await intake.get("/v1/referrals", params={"local_authority": "outside_area", "limit": 2})
    ).json()
    assert len(first["items"]) == 2
    second = (
        await intake.get(
            "/v1/referrals",
            params={"local_authority": "outside_area", "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    seen = [i["referral_id"] for i in first["items"] + second["items"]]
    assert len(seen) == len(set(seen)) >= 3


async def test_a_body_over_one_mebibyte_is_refused(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    before = await _count(database_url, "referrals")
    padded = referral(
        contact__safe_contact_notes="x" * 900, subject__vulnerabilities=["a"] * 300_000
    )
    response = await intake.post("/v1/referrals", json=padded)
    assert response.status_code == 413
    assert response.json()["title"] == "Payload too large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(300):
            yield b" " * 4096  # 1.2 MB with no declared length

    streamed = await intake.post(
        "/v1/referrals", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert await _count(database_url, "referrals") == before


async def test_an_older_step_arriving_late_does_not_move_the_route_back(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    referral_id = uuid.UUID(await _decided(database_url, intake))
    pool = await db.create_pool(database_url, "intake", application_name="test")
    try:
        async with pool.acquire() as conn:
            route_id = await conn.fetchval(
                "SELECT route_id FROM routes WHERE referral_id = $1", referral_id
            )

        def step(name: str, status: str, hours: int, **extra: object) -> CloudEvent[Any]:
            return CloudEvent(
                source="provider_adapter.IDVA",
                type=events.ROUTE_STATUS,
                subject=str(referral_id),
                data=events.RouteStatusChanged(
                    route_id=route_id,
                    referral_id=referral_id,
                    service="IDVA",
                    step=name,
                    status=status,
                    at=T0 + timedelta(hours=hours),
                    **extra,
                ),
            )

        # The outcome arrives first; the acknowledgement made two hours before it, after.
        await applied_at_intake(
            pool, step("outcome", "completed", 3, outcome=events.Outcome(status="completed"))
        )
        await applied_at_intake(pool, step("acknowledged", "accepted", 1))
        async with pool.acquire() as conn:
            status = await conn.fetchval("SELECT status FROM routes WHERE route_id = $1", route_id)
            steps = await conn.fetch(
                "SELECT event FROM timeline WHERE route_id = $1 ORDER BY id", route_id
            )
            acknowledged_at = await conn.fetchval(
                "SELECT acknowledged_at FROM report_facts WHERE route_id = $1", route_id
            )
    finally:
        await pool.close()
    assert status == "completed"
    assert {"outcome", "acknowledged"} <= {r["event"] for r in steps}  # both in the history
    assert acknowledged_at == T0 + timedelta(hours=1)  # and in what the commissioner reads


async def _outbox_reassessments(database_url: str, referral_id: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE key = $1 AND topic = $2 ORDER BY id",
            referral_id,
            topics.REFERRAL_REASSESS,
        )
    finally:
        await conn.close()
    return [
        json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows
    ]


async def _resubmitted_before_any_decision(
    intake: httpx.AsyncClient, name: str, born: str, crime_reference: str
) -> tuple[str, httpx.Response]:
    """A domestic abuse referral (DASH 10), then a resubmission of it at DASH 18 before the
    router has decided it: the referral's id and the resubmission's answer."""
    person = {
        "contact__name": name,
        "subject__date_of_birth": born,
        "crime_reference": crime_reference,
        "incident__crime_types": ["domestic_abuse"],
    }
    answers = []
    for yes_count in (10, 18):
        body = referral(**person, assessment__dash={"yes_count": yes_count})
        del body["subject"]["age"]
        answers.append(await intake.post("/v1/referrals", json=body))
    return answers[0].json()["referral_id"], answers[1]


async def test_a_resubmission_before_the_first_decision_is_reassessed_once_it_arrives(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    referral_id, answer = await _resubmitted_before_any_decision(
        intake, "Early Qresubmitter", "1985-06-07", "ER/1/26"
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["referral_id"] == referral_id
    assert body["reassessed"] is True
    assert body["decision"] is None  # no router here
    # Not sent yet: the router must first decide the referral as received.
    assert await _outbox_reassessments(database_url, referral_id) == []

    pool = await db.create_pool(database_url, "intake", application_name="test")
    try:
        await applied_at_intake(pool, router_decided(referral_id))
    finally:
        await pool.close()
    sent = await _outbox_reassessments(database_url, referral_id)
    assert len(sent) == 1
    data = sent[0]["data"]
    assert data["trigger"] == "resubmitted"
    assert data["decision_id"] == body["decision_id"]
    assert data["facts"]["assessment"]["dash"]["yes_count"] == 18  # the combined picture


async def test_a_waiting_reassessment_is_caused_by_the_decision_and_redriven_with_it(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    """The re-assessment a resubmission waited to send goes out as caused by the decision
    that released it: the decision delivered again publishes it again, the same event, and
    asks for no second one."""
    referral_id, answer = await _resubmitted_before_any_decision(
        intake, "Redrive Qresubmitter", "1986-07-08", "RD/1/26"
    )
    assert answer.json()["reassessed"] is True

    decided = router_decided(referral_id)
    pool = await db.create_pool(database_url, "intake", application_name="test")
    try:
        await applied_at_intake(pool, decided)
        sent = await pool.fetch(
            "SELECT event_id, caused_by FROM outbox WHERE key = $1 AND topic = $2",
            referral_id,
            topics.REFERRAL_REASSESS,
        )
        assert [r["caused_by"] for r in sent] == [decided.id]
        await pool.execute(
            "UPDATE outbox SET published_at = now() WHERE event_id = $1", sent[0]["event_id"]
        )
        await applied_at_intake(pool, decided)  # delivered again (a broker lost what it had)
        again = await pool.fetch(
            "SELECT event_id, published_at FROM outbox WHERE key = $1 AND topic = $2",
            referral_id,
            topics.REFERRAL_REASSESS,
        )
    finally:
        await pool.close()
    assert [(r["event_id"], r["published_at"]) for r in again] == [(sent[0]["event_id"], None)]


async def test_referrals_keyed_by_an_older_normalisation_are_keyed_again(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    body = referral(
        contact__name="Олена Qrekey", subject__date_of_birth="1979-02-03", crime_reference="RK/1"
    )
    del body["subject"]["age"]
    referral_id = (await intake.post("/v1/referrals", json=body)).json()["referral_id"]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        await conn.execute(
            """UPDATE referrals SET person_key = NULL, person_phone_key = NULL, born_key = NULL,
                                    crime_key = 'old', identity_version = 1
               WHERE referral_id = $1""",
            uuid.UUID(referral_id),
        )
        pool = await db.create_pool(database_url, "intake", application_name="test")
        try:
            while await identity_handler.rekey_batch(pool, TEST_VAULT, IDENTITY_KEY):
                pass
        finally:
            await pool.close()
        row = await conn.fetchrow(
            """SELECT person_key, person_phone_key, born_key, crime_key, identity_version
               FROM referrals WHERE referral_id = $1""",
            uuid.UUID(referral_id),
        )
    finally:
        await conn.close()
    expected = identity_keys(ReferralRequest.model_validate(body), IDENTITY_KEY)
    assert row is not None
    assert (row["person_key"], row["person_phone_key"], row["born_key"], row["crime_key"]) == (
        expected.person,
        expected.person_phone,
        expected.born,
        expected.crime,
    )
    assert expected.person is not None
    assert row["identity_version"] == IDENTITY_VERSION


async def test_a_resubmission_sent_twice_with_one_idempotency_key_is_one_submission(
    intake: httpx.AsyncClient,
) -> None:
    person = {
        "contact__name": "Twice Qsender",
        "contact__phone": "07700 900444",
        "crime_reference": "TW/1/26",
    }
    first = await intake.post("/v1/referrals", json=referral(**person))
    assert first.status_code == 202
    again = referral(**person, assessment__needs=["housing"])
    headers = {"Idempotency-Key": f"resubmit-{uuid.uuid4()}"}
    one = await intake.post("/v1/referrals", json=again, headers=headers)
    two = await intake.post("/v1/referrals", json=again, headers=headers)
    assert one.status_code == two.status_code == 200
    assert one.json()["submission"] == two.json()["submission"] == 2
    assert one.json()["decision_id"] == two.json()["decision_id"]
    view = (await intake.get(f"/v1/referrals/{first.json()['referral_id']}")).json()
    assert [s["submission"] for s in view["submissions"]] == [1, 2]
    other = await intake.post(
        "/v1/referrals", json=referral(**person, assessment__needs=["health"]), headers=headers
    )
    assert other.status_code == 409


async def test_a_person_submitted_twice_at_the_same_moment_is_one_referral(
    intake: httpx.AsyncClient,
) -> None:
    """Two triage workers send the same person and crime at once (neither on record yet):
    one referral, which the other answer joins as its second submission."""
    person = referral(contact__name="Atonce Qtwins", contact__phone="07700 900555")
    for attempt in range(5):  # the race was lost most times; a few tries make a loss certain
        body = {**person, "crime_reference": f"AT/{attempt}/{uuid.uuid4().hex[:6]}"}
        one, two = await asyncio.gather(
            intake.post("/v1/referrals", json=body), intake.post("/v1/referrals", json=body)
        )
        assert sorted((one.status_code, two.status_code)) == [200, 202], (one.text, two.text)
        assert one.json()["referral_id"] == two.json()["referral_id"]
        joined = one if one.status_code == 200 else two
        assert joined.json()["linked_to_existing"] is True
        assert joined.json()["submission"] == 2


async def test_a_referral_whose_event_the_broker_could_not_take_is_refused_naming_the_field(
    intake: httpx.AsyncClient, database_url: str
) -> None:
    """Under the 1 MiB body limit, a long list of codes would make an event over the
    broker's ``message.max.bytes``: refused at once, the field named, nothing stored, instead
    of an outbox row the relay could never publish. Every list is bounded now (issue 19), so
    the list's own bound refuses it (422) before any event is made; the event's size limit
    (413, ``tests/unit/test_event_size.py``) stays behind it."""
    codes = [f"v{n:05d}" + "a" * 58 for n in range(14_500)]
    body = referral(subject__vulnerabilities=codes)
    assert len(json.dumps(body)) < 1024 * 1024
    before = (await _count(database_url, "referrals"), await _count(database_url, "outbox"))
    response = await intake.post("/v1/referrals", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["subject.vulnerabilities"]
    assert "Test Person" not in response.text
    assert codes[0] not in response.text
    after = (await _count(database_url, "referrals"), await _count(database_url, "outbox"))
    assert after == before
    # A referral of the usual size right after it is taken.
    assert (await intake.post("/v1/referrals", json=referral())).status_code == 202
