"""The referrer's feed, ``GET /v1/status-changes`` (issue 19, "the loop closed to the
referrer"): each status change of the referrals the caller submitted, in order, as coded
facts only (no name, note or contact detail, whatever the timeline holds), none of anyone
else's, and a signed cursor that carries on from where the last read stopped (a made-up
one is 400). Real PostgreSQL and broker; the router's decision and a provider's steps are
recorded as their events would be."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.bootstrap import build
from services.referral_intake.settings import IntakeSettings
from tests.integration.test_intake_api import _decided
from tests.support.consuming import applied_at_intake
from tests.support.intake import T0
from tests.support.referrals import marked, referral
from tests.support.services import CREDENTIALS, common_env, serving
from tests.support.waiting import eventually


@dataclass
class Referrers:
    triage: httpx.AsyncClient
    supervisor: httpx.AsyncClient
    database_url: str


@asynccontextmanager
async def serving_referrers(
    database_url: str, kafka: KafkaAccess, **settings: object
) -> AsyncIterator[Referrers]:
    """Intake with its background loops, a triage and a supervisor client on it;
    ``settings`` beside the test ones."""
    env = common_env(database_url, kafka)
    env["resubmission_decision_wait_seconds"] = 0.2
    env["status_feed_settle_seconds"] = 0.3
    env.update(settings)
    app = build(IntakeSettings(**env)).create_app()  # type: ignore[arg-type]
    async with serving(app, CREDENTIALS.staff_tokens["triage"]) as triage:
        supervisor = httpx.AsyncClient(
            transport=triage._transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {CREDENTIALS.staff_tokens['supervisor']}"},
        )
        async with supervisor:
            yield Referrers(triage, supervisor, database_url)


@pytest.fixture(scope="module")
async def referrers(
    module_database_url: str, module_kafka: KafkaAccess
) -> AsyncIterator[Referrers]:
    async with serving_referrers(module_database_url, module_kafka) as found:
        yield found


ROUTED_EVENTS = ["received", "routed", "requested", "acknowledged", "contact_attempt", "outcome"]
"""What the feed says of a referral routed to IDVA whose provider then took the steps
``_record_steps`` records, in order."""


async def _record_steps(database_url: str, referral_id: str) -> None:
    pool = await db.create_pool(database_url, "intake", application_name="test")
    try:
        async with pool.acquire() as conn:
            route_id = await conn.fetchval(
                "SELECT route_id FROM routes WHERE referral_id = $1", uuid.UUID(referral_id)
            )

        def step(name: str, status: str, hours: int, **extra: object) -> CloudEvent[Any]:
            return CloudEvent(
                source="provider_adapter.IDVA",
                type=events.ROUTE_STATUS,
                subject=referral_id,
                data=events.RouteStatusChanged(
                    route_id=route_id,
                    referral_id=uuid.UUID(referral_id),
                    service="IDVA",
                    step=name,
                    status=status,
                    at=T0 + timedelta(hours=hours),
                    **extra,
                ),
            )

        await applied_at_intake(pool, step("acknowledged", "accepted", 1))
        await applied_at_intake(
            pool,
            step(
                "contact_attempt",
                "in_progress",
                2,
                contact_attempt=events.ContactAttempt(
                    at=T0 + timedelta(hours=2), channel="phone", result="contacted"
                ),
            ),
        )
        await applied_at_intake(
            pool, step("outcome", "completed", 3, outcome=events.Outcome(status="completed"))
        )
    finally:
        await pool.close()


async def _read_all(client: httpx.AsyncClient, cursor: str | None = None) -> tuple[list[Any], str]:
    items: list[Any] = []
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/v1/status-changes", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not body["items"]:
            return items, cursor


async def test_the_referrer_follows_its_own_referrals_in_coded_facts(
    referrers: Referrers,
) -> None:
    body, markers = marked()
    mine = (await referrers.triage.post("/v1/referrals", json=body)).json()["referral_id"]
    routed = await _decided(referrers.database_url, referrers.triage)
    others = (await referrers.supervisor.post("/v1/referrals", json=referral())).json()[
        "referral_id"
    ]
    await _record_steps(referrers.database_url, routed)

    async def all_there() -> tuple[list[Any], str] | None:
        items, cursor = await _read_all(referrers.triage)
        events_of_routed = [i["event"] for i in items if i["referral_id"] == routed]
        return (items, cursor) if "outcome" in events_of_routed else None

    items, cursor = await eventually(all_there, timeout=20, what="every change in the feed")
    referral_ids = {i["referral_id"] for i in items}
    assert {mine, routed} <= referral_ids
    assert others not in referral_ids  # the supervisor's, not the triage caller's
    of_routed = [i for i in items if i["referral_id"] == routed]
    assert [i["event"] for i in of_routed] == ROUTED_EVENTS
    assert [i["status"] for i in of_routed[2:]] == [
        "requested",
        "accepted",
        "in_progress",
        "completed",
    ]
    assert of_routed[-1]["service"] == "IDVA"
    assert of_routed[-1]["outcome"] == "completed"
    assert {"by", "contact_attempt", "detail"}.isdisjoint(k for i in items for k in i)
    text = str(items)
    for marker in markers:
        assert marker not in text

    # Carrying on from the cursor: nothing again, then only what is new.
    again, cursor = await _read_all(referrers.triage, cursor)
    assert again == []
    later = (await referrers.triage.post("/v1/referrals", json=referral())).json()["referral_id"]

    async def only_the_new_one() -> list[Any] | None:
        found, _ = await _read_all(referrers.triage, cursor)
        return found or None

    new = await eventually(only_the_new_one, timeout=20, what="the new referral in the feed")
    assert [(i["referral_id"], i["event"]) for i in new] == [(later, "received")]


@pytest.mark.parametrize("cursor", ["NQ", "WzVd", "e30.c2ln", "x" * 50])
async def test_a_cursor_the_feed_did_not_give_out_is_400(referrers: Referrers, cursor: str) -> None:
    answer = await referrers.triage.get("/v1/status-changes", params={"cursor": cursor})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert cursor not in answer.text
