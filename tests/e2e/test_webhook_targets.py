"""Webhook targets on the running local stack (``make run``'s profile: loopback receivers
allowed, the hub's own ports never): the issue's metadata, private-network and own-intake
registrations answer 422 naming the rule, in their IPv6, mapped and numeric forms too; a
loopback receiver is accepted and gets its work; a name re-pointed to a private address
after registration is refused at delivery, recorded, escalated and not retried; a redirect
is never followed. Names resolve through the stack's hosts file (``hub.point``); every
receiver is on 127.0.0.1 and nothing is sent anywhere else."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.localstack.ports import free_port
from tests.support.referrals import high_risk_da, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync
from tests.support.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.e2e


def _port(url: str) -> int:
    port = urlsplit(url if "://" in url else f"//{url}").port
    assert port is not None
    return port


def _refused_cases(hub: RunningStack) -> list[tuple[str, str]]:
    info = hub.info()
    intake = _port(info["intake_url"])
    database = _port(info["database_url"])
    broker = _port(info["kafka_bootstrap_servers"].split(",")[0])
    router = _port(info["router_url"])
    return [
        # the issue's targets that the local profile must refuse
        ("https://169.254.169.254/latest/meta-data/", "link_local"),
        ("https://10.0.0.5/hook", "private"),
        (f"https://127.0.0.1:{intake}/v1/referrals", "hub"),
        # their IPv6, mapped and numeric forms
        ("https://[::ffff:a9fe:a9fe]/latest/meta-data/", "link_local"),
        ("https://2852039166/latest/meta-data/", "link_local"),
        ("https://[fe80::a9fe:a9fe]/", "link_local"),
        ("https://[::ffff:10.0.0.5]/hook", "private"),
        ("https://0xa.0.0.5/hook", "private"),
        (f"https://2130706433:{intake}/v1/referrals", "hub"),
        (f"https://0x7f.1:{intake}/v1/referrals", "hub"),
        (f"https://[::1]:{intake}/v1/referrals", "hub"),
        (f"https://[::ffff:127.0.0.1]:{intake}/v1/referrals", "hub"),
        (f"http://localhost:{intake}/v1/referrals", "hub"),
        # the hub's own database, broker and router, whatever their ports here
        (f"https://localhost:{database}/", "hub"),
        (f"https://127.0.0.1:{broker}/", "hub"),
        (f"https://127.0.0.1:{router}/v1/policies", "hub"),
    ]


def test_the_issues_registrations_are_refused_on_the_local_stack(hub: RunningStack) -> None:
    divert = hub.provider("DIVERT")
    name = f"hooks-{uuid.uuid4().hex[:8]}.divert-provider.test"
    hub.point(name, "10.0.0.5")
    cases = [*_refused_cases(hub), (f"https://{name}/hooks", "private")]
    for url, rule in cases:
        answer = divert.put("/v1/webhook", json={"url": url})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["errors"][0]["rule"] == rule, url
        assert body["detail"] == body["errors"][0]["message"]
        # The sentence names the rule, never the address the host resolved to.
        for address in ("10.0.0.5", "127.0.0.1", "169.254.169.254"):
            assert address not in answer.text, url
        assert "secret" not in body
    assert divert.get("/v1/webhook").status_code == 404  # nothing was stored
    assert _refusals(hub, "DIVERT", "registration", "link_local") >= 3


def _refusals(hub: RunningStack, service: str, stage: str, rule: str) -> float:
    """hub_outbound_refusals_total on the adapter's /metrics, for one series."""
    text = httpx.get(hub.info()["provider_api_urls"][service] + "/metrics").text
    wanted = {"service": service, "purpose": "provider_webhook", "stage": stage, "rule": rule}
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "hub_outbound_refusals_total" and sample.labels == wanted
    )


def _adapter_rows(hub: RunningStack, schema: str, sql: str, *args: object) -> list[dict[str, Any]]:
    async def query() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(
            hub.info()["database_url"], server_settings={"search_path": schema}
        )
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(query())


def _deliveries(hub: RunningStack, schema: str, referral_id: str) -> list[dict[str, Any]]:
    return _adapter_rows(
        hub,
        schema,
        """SELECT d.webhook_id, d.kind, d.state, d.attempts, a.attempt, a.error, a.status_code
           FROM deliveries d JOIN work_items w USING (route_id)
           LEFT JOIN delivery_attempts a USING (webhook_id)
           WHERE w.referral_id = $1 ORDER BY a.attempt""",
        uuid.UUID(referral_id),
    )


def test_a_loopback_receiver_is_accepted_and_a_name_re_pointed_inside_is_refused_at_delivery(
    hub: RunningStack,
) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    name = f"hooks-{uuid.uuid4().hex[:8]}.localhost"
    hub.point(name, "127.0.0.1")
    with webhook_receiver(free_port()) as receiver:
        url = f"http://{name}:{_port(receiver.url)}/hooks/hub"
        registered = idva.put("/v1/webhook", json={"url": url})
        assert registered.status_code == 200, registered.text
        receiver.secret = registered.json()["secret"]
        try:
            first = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
            (arrived,) = eventually_sync(
                lambda: [d for d in receiver.received("created", first) if d.answered == 204],
                timeout=40,
                what="the first work item at the loopback receiver",
            )
            assert arrived.verified
            assert arrived.headers["host"] == f"{name}:{_port(receiver.url)}"

            hub.point(name, "10.0.0.5")  # the name now leads into a private network
            second = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]

            def refused() -> list[dict[str, Any]]:
                rows = _deliveries(hub, "adapter_idva", second)
                return [r for r in rows if r["state"] == "refused"]

            (row,) = eventually_sync(refused, timeout=40, what="the delivery refused")
            assert row["kind"] == "created"
            assert row["attempts"] == 1
            assert row["error"] == "refused: private"
            assert row["status_code"] is None

            # The VAL supervisor sees the route escalated, and why.
            def escalated() -> list[dict[str, Any]]:
                view = staff.get(f"/v1/referrals/{second}").json()
                return [e for e in view["timeline"] if e["event"] == "delivery_refused"]

            (entry,) = eventually_sync(escalated, timeout=30, what="the timeline entry")
            assert entry["status"] == "escalated"
            assert entry["reason"] == "webhook_refused"
            assert entry["by"] == "IDVA provider"

            # The provider sees why, and still has the work item in its queue.
            shown = idva.get("/v1/webhook").json()
            assert shown["refused"]["rule"] == "private"
            assert "10.0.0.5" not in str(shown)
            queued = {i["referral_id"]: i for i in idva.get("/v1/queue").json()["items"]}
            assert queued[second]["status"] == "escalated"

            assert _refusals(hub, "IDVA", "delivery", "private") >= 1

            # Not retried: the next delivery (a third referral) is refused on its own,
            # and the refused one still has its single attempt.
            third = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
            eventually_sync(
                lambda: [
                    r for r in _deliveries(hub, "adapter_idva", third) if r["state"] == "refused"
                ],
                timeout=40,
                what="the next delivery refused",
            )
            assert len(_deliveries(hub, "adapter_idva", second)) == 1
        finally:
            assert idva.delete("/v1/webhook").status_code == 204
    assert receiver.received("created", second) == []
    assert receiver.received("created", third) == []


def test_a_redirect_is_never_followed(hub: RunningStack) -> None:
    staff, isva = hub.staff(), hub.provider("ISVA")
    with webhook_receiver(free_port()) as elsewhere, webhook_receiver(free_port()) as receiver:
        receiver.redirect_to = elsewhere.url
        receiver.plan = ["redirect"]
        registered = isva.put("/v1/webhook", json={"url": receiver.url})
        assert registered.status_code == 200
        receiver.secret = registered.json()["secret"]
        try:
            body = referral(incident__crime_types=["sexual_offence"])
            referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]
            eventually_sync(
                lambda: [d for d in receiver.received("created", referral_id) if d.answered == 204],
                timeout=40,
                what="delivery after the redirect",
            )
        finally:
            assert isva.delete("/v1/webhook").status_code == 204
    answers = [d.answered for d in receiver.received("created", referral_id)]
    assert answers[0] == 302
    assert answers[-1] == 204
    assert elsewhere.received() == []  # the Location was never requested
    errors = [r["error"] for r in _deliveries(hub, "adapter_isva", referral_id)]
    assert "HTTP 302 (redirects are not followed)" in errors
