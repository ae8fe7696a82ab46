"""A provider's day on the running hub: webhooks verified with Standard Webhooks and retried
with a stable id, delivery surviving an adapter restart, only allowlisted data, keys that
reach one service only, key rotation, and a disclosure-log row for every contact read."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.localstack.ports import free_port
from schemas import data_sharing, topics
from schemas.codes import Service
from tests.support.kafka_reader import read_all
from tests.support.referrals import ago, high_risk_da, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync
from tests.support.webhook_receiver import Receiver, webhook_receiver


def _disclosures(hub: RunningStack, referral_id: str) -> list[dict[str, Any]]:
    async def query() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(hub.info()["database_url"])
        try:
            rows = await conn.fetch(
                """SELECT accessor, service, fields, purpose FROM intake.disclosure_log
                   WHERE referral_id = $1""",
                referral_id,
            )
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    return asyncio.run(query())


def _register(provider: httpx.Client, receiver: Receiver) -> None:
    answer = provider.put("/v1/webhook", json={"url": receiver.url})
    assert answer.status_code == 200, answer.text
    receiver.secret = answer.json()["secret"]
    assert receiver.secret.startswith("whsec_")


def test_work_arrives_by_signed_webhook_and_failed_deliveries_retry_with_the_same_id(
    hub: RunningStack,
) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    with webhook_receiver(free_port()) as receiver:
        _register(idva, receiver)
        receiver.plan = ["fail", "stall", "fail"]
        try:
            referral_id = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]

            def delivered() -> list[Any]:
                return [d for d in receiver.received("created", referral_id) if d.answered == 204]

            final = eventually_sync(delivered, timeout=40, what="a successful webhook delivery")[0]
        finally:
            assert idva.delete("/v1/webhook").status_code == 204
    attempts = receiver.received("created", referral_id)
    assert len(attempts) >= 4  # two failures, a stall, then success
    assert {a.webhook_id for a in attempts} == {final.webhook_id}
    assert all(a.verified for a in attempts)
    item = final.payload["data"]
    assert item["referral_id"] == referral_id
    assert item["priority"] == "urgent"
    assert "contact" not in item
    assert set(item["facts"]) <= set(data_sharing.work_item_facts(Service.IDVA))
    # The provider's system has it: the route is received.
    detail = next(
        i for i in idva.get("/v1/queue").json()["items"] if i["referral_id"] == referral_id
    )
    assert detail["status"] == "received"


def test_delivery_resumes_after_the_adapter_is_killed(hub: RunningStack) -> None:
    staff, isva = hub.staff(), hub.provider("ISVA")
    with webhook_receiver(free_port()) as receiver:
        _register(isva, receiver)
        receiver.plan = ["fail"] * 1000
        try:
            body = referral(incident__crime_types=["sexual_offence"])
            referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]
            eventually_sync(
                lambda: receiver.received("created", referral_id),
                timeout=30,
                what="a first attempt",
            )
            before = hub.info()["processes"]["provider_adapter.ISVA"]
            os.kill(before, signal.SIGKILL)
            eventually_sync(
                lambda: hub.info()["processes"]["provider_adapter.ISVA"] != before, timeout=30
            )
            with receiver.lock:
                receiver.plan.clear()

            def delivered() -> list[Any]:
                return [d for d in receiver.received("created", referral_id) if d.answered == 204]

            eventually_sync(delivered, timeout=60, what="delivery by the restarted adapter")
        finally:
            eventually_sync(
                lambda: isva.delete("/v1/webhook").status_code in (204, 404), timeout=30
            )
    ids = {d.webhook_id for d in receiver.received("created", referral_id)}
    assert len(ids) == 1


def test_a_providers_key_reaches_only_its_own_service_and_discloses_nothing(
    hub: RunningStack,
) -> None:
    staff, idva, isva = hub.staff(), hub.provider("IDVA"), hub.provider("ISVA")
    referral_id = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
    eventually_sync(
        lambda: any(i["referral_id"] == referral_id for i in idva.get("/v1/queue").json()["items"]),
        what="the IDVA work item",
    )
    attempts = [
        isva.get(f"/v1/referrals/{referral_id}"),
        isva.post(f"/v1/referrals/{referral_id}/acknowledge", json={"decision": "accepted"}),
        isva.post(
            f"/v1/referrals/{referral_id}/contact-attempts",
            json={"at": ago(minutes=1), "channel": "phone", "result": "contacted"},
        ),
        isva.post(f"/v1/referrals/{referral_id}/outcome", json={"status": "completed"}),
    ]
    assert [a.status_code for a in attempts] == [404, 404, 404, 404]
    assert all("Test Person" not in a.text for a in attempts)
    assert referral_id not in json.dumps(isva.get("/v1/queue", params={"limit": 200}).json())
    assert _disclosures(hub, referral_id) == []
    forged = httpx.get(
        hub.info()["provider_api_urls"]["IDVA"] + "/v1/queue",
        headers={"Authorization": f"Bearer {hub.info()['provider_keys']['ISVA']}"},
        timeout=5,
    )
    assert forged.status_code == 401


def test_every_contact_read_is_in_the_disclosure_log(hub: RunningStack) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    referral_id = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]

    def read() -> dict[str, Any] | None:
        response = idva.get(f"/v1/referrals/{referral_id}")
        return response.json() if response.status_code == 200 else None

    detail = eventually_sync(read, what="contact details")
    assert detail["contact"]["safe_contact_notes"] == "any time"  # IDVA gets safe-contact notes
    idva.get(f"/v1/referrals/{referral_id}")
    log = _disclosures(hub, referral_id)
    assert len(log) == 2
    assert log[0]["accessor"] == "provider_adapter.IDVA"
    assert log[0]["service"] == "IDVA"
    assert "phone" in log[0]["fields"]
    assert log[0]["purpose"] == "provider_contact"


def test_divert_sees_no_victim_data_and_no_safe_contact_notes(hub: RunningStack) -> None:
    staff, divert = hub.staff(), hub.provider("DIVERT")
    body = referral(
        subject__role="suspect",
        subject__age=20,
        incident__crime_types=["drug_possession"],
        incident__drug_possession={
            "personal_use": True,
            "intent_to_supply_suspected": False,
            "previously_disengaged_from_diversion": False,
        },
        assessment__needs=["none"],
    )
    referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]

    def read() -> dict[str, Any] | None:
        response = divert.get(f"/v1/referrals/{referral_id}")
        return response.json() if response.status_code == 200 else None

    detail = eventually_sync(read, what="the DIVERT work item")
    assert set(detail["facts"]) == {"local_authority", "subject.age", "incident.drug_possession"}
    assert "safe_contact_notes" not in detail["contact"]


def test_every_queue_topic_carries_only_allowlisted_facts(hub: RunningStack) -> None:
    records = asyncio.run(read_all(hub.kafka_admin(), [topics.queue_for(s) for s in Service]))
    items = [json.loads(r.value or b"{}") for r in records]
    work_items = [i for i in items if i.get("type") == "referral.work_item.v1"]
    assert work_items
    for item in work_items:
        service = Service(item["data"]["service"])
        assert set(item["data"]["facts"]) <= set(data_sharing.work_item_facts(service)), service


def test_a_provider_rolls_its_key_without_downtime(hub: RunningStack) -> None:
    """Two keys work at once while a provider switches; either can retire the other; the
    last one cannot be retired. (The stack's own key is the one kept, for other tests.)"""
    url = hub.info()["provider_api_urls"]["CLIMB"]
    stack_key = hub.provider("CLIMB")
    (current,) = stack_key.get("/v1/keys").json()["keys"]
    added = stack_key.post("/v1/keys", json={"label": "2027 key"})
    assert added.status_code == 201
    new_key = added.json()["key"]
    new = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {new_key}"}, timeout=5)
    assert new.get("/v1/queue").status_code == 200
    assert stack_key.get("/v1/queue").status_code == 200  # both work at once
    assert stack_key.post("/v1/keys", json={"label": "a third"}).status_code == 409
    listed = new.get("/v1/keys").json()["keys"]
    assert {k["key_id"] for k in listed} == {current["key_id"], added.json()["key_id"]}
    assert new_key not in json.dumps(listed)  # a key is shown once, when made
    assert stack_key.delete(f"/v1/keys/{added.json()['key_id']}").status_code == 204
    assert new.get("/v1/queue").status_code == 401
    assert (
        stack_key.delete(f"/v1/keys/{current['key_id']}").status_code == 409
    )  # never left without one
    assert stack_key.get("/v1/queue").status_code == 200


def _accepted_by_idva(hub: RunningStack) -> str:
    """A new high-risk domestic abuse referral, accepted by IDVA; its id."""
    staff, idva = hub.staff(), hub.provider("IDVA")
    referral_id: str = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
    eventually_sync(
        lambda: (
            idva.post(
                f"/v1/referrals/{referral_id}/acknowledge", json={"decision": "accepted"}
            ).status_code
            == 200
        ),
        what="acceptance",
    )
    return referral_id


@pytest.mark.parametrize(
    "measures", [{"smiles": True}, {"cope_and_recover": "ecstatic"}, {"risk_reduced": "yes"}]
)
def test_outcome_measures_must_be_ones_the_service_reports(
    hub: RunningStack, measures: dict[str, Any]
) -> None:
    idva = hub.provider("IDVA")
    referral_id = _accepted_by_idva(hub)
    response = idva.post(
        f"/v1/referrals/{referral_id}/outcome", json={"status": "completed", "measures": measures}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == f"measures.{next(iter(measures))}"


def test_a_contact_attempt_dated_before_the_referral_reached_the_service_is_refused(
    hub: RunningStack,
) -> None:
    """Found by trying the hub: attempts dated years back were accepted and counted, so a
    referral could be closed as not contactable a minute after it arrived."""
    idva = hub.provider("IDVA")
    referral_id = _accepted_by_idva(hub)
    attempts = f"/v1/referrals/{referral_id}/contact-attempts"
    for at in ("1990-01-01T10:00:00Z", ago(days=1), ago(days=-1)):  # -1: tomorrow
        refused = idva.post(attempts, json={"at": at, "channel": "phone", "result": "no_answer"})
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == "at"

    early = idva.post(
        f"/v1/referrals/{referral_id}/outcome",
        json={"status": "failed", "reason": "not_contactable"},
    )
    assert early.status_code == 409  # the refused attempts did not count

    made = idva.post(
        attempts, json={"at": ago(seconds=1), "channel": "phone", "result": "no_answer"}
    )
    assert made.status_code == 200


def test_a_query_parameter_the_operation_does_not_take_is_refused(hub: RunningStack) -> None:
    """Found by trying the hub: ``?stauts=open`` was ignored (the whole list came back), while
    a body member the schema does not name is refused."""
    staff, idva = hub.staff(), hub.provider("IDVA")
    for client, path in ((staff, "/v1/status-changes"), (idva, "/v1/queue")):
        refused = client.get(path, params={"stauts": "open", "limit": 5})
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == "(query)"
        assert "stauts" not in refused.text
        assert client.get(path, params={"limit": 5}).status_code == 200
