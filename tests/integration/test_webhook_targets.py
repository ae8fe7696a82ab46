"""Webhook targets through the provider API with production settings, against real
PostgreSQL: the issue's four registrations and their IPv6, mapped and numeric forms answer
422 naming the rule (never the address) and store nothing; a public name is accepted; the
same name re-pointed to a private address is refused at delivery, recorded, escalated and
not retried. Names resolve through a hosts file only (no DNS query leaves this machine),
and nothing is ever sent: every delivery here is refused before a connection."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from schemas import events
from schemas.codes import Service
from schemas.envelope import CloudEvent
from services.plumbing import db
from services.plumbing.outbound import HostsFileResolver, IPAddress
from services.provider_adapter.handlers import webhooks
from services.provider_adapter.handlers.common import Adapter
from services.provider_adapter.settings import AdapterSettings
from tests.support.adapter_api import adapter_api
from tests.support.consuming import applied_by_adapter
from tests.support.services import CREDENTIALS
from tests.support.work_items import work_item

SERVICE = Service.IDVA
NAME = "hooks.idva-provider.test"
PUBLIC = "93.184.215.14"
"""Globally routable, for vetting only: every delivery below is refused before it is sent."""


async def _no_dns(name: str, port: int) -> list[IPAddress]:
    return []


@dataclass
class Rig:
    adapter: Adapter
    api: httpx.AsyncClient
    hosts: Path
    database_url: str

    def point(self, lines: str) -> None:
        self.hosts.write_text(lines)


@pytest.fixture
async def rig(database_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    settings = AdapterSettings(
        hub_environment="production",
        service=SERVICE,
        database_url=database_url,
        kafka_bootstrap_servers="kafka.example.invalid:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="adapter-idva",
        kafka_sasl_password="a password from a secret file",
        staff_jwt_issuer="https://identity.example.invalid/realms/referral-hub",
        staff_jwt_public_key=CREDENTIALS.public_key_pem,
        intake_url="http://referral-intake:8080",
        intake_service_token="unused",
        http_host="0.0.0.0",
        http_port=8080,
        log_json=True,
        provider_key_sha256=[CREDENTIALS.provider_key_hash(SERVICE)],
        portal_secret_key="0123456789abcdef" * 4,
    )
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    outbound = settings.outbound_client(
        purpose="provider_webhook", service=SERVICE.value, timeout_seconds=2.0
    )
    # The one test seam: names resolve through a hosts file written here, never DNS.
    outbound.resolver = HostsFileResolver(hosts, fallback=_no_dns)
    async with adapter_api(database_url, settings, outbound) as (adapter, api):
        yield Rig(adapter, api, hosts, database_url)


REFUSED = [
    # the four
    ("https://169.254.169.254/latest/meta-data/", "link_local", "169.254.169.254"),
    ("https://10.0.0.5/hook", "private", "10.0.0.5"),
    ("https://localhost:5432/", "loopback", "127.0.0.1"),
    ("https://127.0.0.1:8080/v1/referrals", "hub", "127.0.0.1"),
    # IPv6, mapped and numeric forms of them
    ("https://[::ffff:169.254.169.254]/latest/meta-data/", "link_local", "169.254.169.254"),
    ("https://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "link_local", "169.254.169.254"),
    ("https://2852039166/latest/meta-data/", "link_local", "169.254.169.254"),
    ("https://0xa9.0xfe.0xa9.0xfe/latest/meta-data/", "link_local", "169.254.169.254"),
    ("https://[fe80::1]/", "link_local", "fe80::1"),
    ("https://[::ffff:10.0.0.5]/hook", "private", "10.0.0.5"),
    ("https://[2002:a00:5::1]/hook", "private", "10.0.0.5"),
    ("https://012.0.0.05/hook", "private", "10.0.0.5"),
    ("https://10.5/hook", "private", "10.0.0.5"),
    ("https://[fd00::5]/hook", "private", "fd00::5"),
    ("https://[::1]:5432/", "loopback", "127.0.0.1"),
    ("https://127.1:5432/", "loopback", "127.0.0.1"),
    ("https://foo.localhost:5432/", "loopback", "127.0.0.1"),
    ("https://[::ffff:127.0.0.1]:8080/v1/referrals", "hub", "127.0.0.1"),
    ("https://2130706433:8080/v1/referrals", "hub", "127.0.0.1"),
    ("https://0x7f.1:8080/v1/referrals", "hub", "127.0.0.1"),
    ("https://0177.0.0.1:8080/v1/referrals", "hub", "127.0.0.1"),
    # other rules
    ("https://100.64.0.7/", "shared", "100.64.0.7"),
    ("https://0.0.0.0/", "unspecified", "0.0.0.0"),
    ("https://224.0.0.251/", "multicast", "224.0.0.251"),
    ("https://240.0.0.1/", "reserved", "240.0.0.1"),
    ("https://referral-intake:8080/v1/referrals", "local_name", "referral-intake"),
    ("https://postgres.hub.svc.cluster.local/", "local_name", "postgres"),
    ("https://metadata.google.internal/computeMetadata/v1/", "local_name", "metadata"),
    ("http://hooks.example.org/", "scheme", "hooks.example.org"),
    ("https://user:secret@hooks.example.org/", "credentials", "secret"),
    ("https://nowhere.idva-provider.test/", "unresolvable", "nowhere"),
]


async def _webhook(rig: Rig) -> httpx.Response:
    return await rig.api.get("/v1/webhook")


@pytest.mark.parametrize(("url", "rule", "address"), REFUSED, ids=[u for u, _, _ in REFUSED])
async def test_a_refused_registration_answers_422_naming_the_rule_and_stores_nothing(
    rig: Rig, url: str, rule: str, address: str
) -> None:
    answer = await rig.api.put("/v1/webhook", json={"url": url})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["errors"] == [{"field": "url", "message": body["detail"], "rule": rule}]
    if rule not in ("local_name", "scheme", "unresolvable", "unspecified"):
        # never the address: neither the one the host resolved to nor the one it spells
        assert address not in answer.text
    assert "secret" not in body
    assert (await _webhook(rig)).status_code == 404


async def test_a_name_resolving_to_a_private_address_through_the_hosts_file_is_refused(
    rig: Rig,
) -> None:
    rig.point(f"10.0.0.5 {NAME}\n")
    answer = await rig.api.put("/v1/webhook", json={"url": f"https://{NAME}/hooks"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["rule"] == "private"
    assert "10.0.0.5" not in answer.text


async def test_only_allowlisted_hosts_are_accepted_where_operators_set_a_list(rig: Rig) -> None:
    rig.point(f"{PUBLIC} {NAME} hooks.elsewhere.test\n")
    rig.adapter.outbound.policy = dataclasses.replace(
        rig.adapter.outbound.policy, allowed_hosts=("*.idva-provider.test",)
    )
    refused = await rig.api.put("/v1/webhook", json={"url": "https://hooks.elsewhere.test/"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["rule"] == "not_allowlisted"
    accepted = await rig.api.put("/v1/webhook", json={"url": f"https://{NAME}/hooks"})
    assert accepted.status_code == 200
    # An allowlisted name is vetted all the same.
    rig.point(f"169.254.169.254 {NAME}\n")
    again = await rig.api.put("/v1/webhook", json={"url": f"https://{NAME}/hooks"})
    assert again.json()["errors"][0]["rule"] == "link_local"


def _refusals(stage: str, rule: str) -> float:
    value = REGISTRY.get_sample_value(
        "hub_outbound_refusals_total",
        {"service": SERVICE.value, "purpose": "provider_webhook", "stage": stage, "rule": rule},
    )
    return value or 0.0


async def _take_work_item(adapter: Adapter) -> events.WorkItem:
    item = work_item(SERVICE)
    event: CloudEvent[events.WorkItem] = CloudEvent(
        source="router", type=events.WORK_ITEM, subject=str(item.referral_id), data=item
    )
    await applied_by_adapter(adapter, event)
    return item


async def _deliveries(rig: Rig, route_id: uuid.UUID) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(
        rig.database_url, server_settings={"search_path": rig.adapter.settings.db_schema}
    )
    try:
        return list(
            await conn.fetch(
                """SELECT d.state, d.attempts, d.last_error, d.next_attempt_at,
                          a.error AS attempt_error, a.status_code
                   FROM deliveries d JOIN delivery_attempts a USING (webhook_id)
                   WHERE d.route_id = $1""",
                route_id,
            )
        )
    finally:
        await conn.close()


async def _status_steps(rig: Rig, route_id: uuid.UUID) -> list[dict[str, object]]:
    conn = await db.connect(
        rig.database_url, server_settings={"search_path": rig.adapter.settings.db_schema}
    )
    try:
        rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    finally:
        await conn.close()
    return [
        r["payload"]["data"] for r in rows if r["payload"]["data"].get("route_id") == str(route_id)
    ]


async def test_a_name_public_at_registration_and_private_at_delivery_is_refused_there(
    rig: Rig,
) -> None:
    rig.point(f"{PUBLIC} {NAME}\n")
    registered = await rig.api.put("/v1/webhook", json={"url": f"https://{NAME}/hooks/hub"})
    assert registered.status_code == 200, registered.text
    assert registered.json()["secret"].startswith("whsec_")
    before = _refusals("delivery", "private")

    rig.point(f"10.0.0.5 {NAME}\n")  # re-pointed after it was vetted
    item = await _take_work_item(rig.adapter)
    assert await webhooks.deliver_due(rig.adapter) == 1

    (delivery,) = await _deliveries(rig, item.route_id)
    assert delivery["state"] == "refused"
    assert delivery["attempts"] == 1
    assert delivery["attempt_error"] == "refused: private"
    assert delivery["status_code"] is None  # no connection was made
    # Not retried: nothing is due any more.
    assert await webhooks.deliver_due(rig.adapter) == 0
    assert (await _deliveries(rig, item.route_id))[0]["attempts"] == 1
    # The route the provider was not told of is escalated, for the VAL supervisor.
    steps = await _status_steps(rig, item.route_id)
    assert [s["step"] for s in steps] == ["queued", "delivery_refused"]
    assert steps[-1]["status"] == "escalated"
    assert steps[-1]["reason"] == "webhook_refused"
    # The provider sees why.
    shown = (await _webhook(rig)).json()
    assert shown["url"] == f"https://{NAME}/hooks/hub"
    assert shown["refused"]["rule"] == "private"
    assert "private network" in shown["refused"]["detail"]
    assert "10.0.0.5" not in str(shown)
    assert shown["deliveries"] == {
        "pending": 0,
        "delivered": 0,
        "failed": 0,
        "refused": 1,
        "disabled": 0,
    }
    assert "secret" not in shown
    # Operations are told.
    assert _refusals("delivery", "private") == before + 1

    # Registering again clears the refusal.
    rig.point(f"{PUBLIC} {NAME}\n")
    assert (await rig.api.put("/v1/webhook", json={"url": f"https://{NAME}/v2"})).status_code == 200
    assert (await _webhook(rig)).json()["refused"] is None


async def test_a_name_that_stops_resolving_is_a_failed_attempt_and_retried(rig: Rig) -> None:
    rig.point(f"{PUBLIC} {NAME}\n")
    registered = await rig.api.put("/v1/webhook", json={"url": f"https://{NAME}/hooks/hub"})
    assert registered.status_code == 200
    rig.point("")  # DNS trouble: the name resolves to nothing for now
    item = await _take_work_item(rig.adapter)
    assert await webhooks.deliver_due(rig.adapter) == 1
    (delivery,) = await _deliveries(rig, item.route_id)
    assert delivery["state"] == "pending"
    assert delivery["attempt_error"] == "unresolvable"
    assert delivery["next_attempt_at"] > datetime.now(UTC)
    steps = await _status_steps(rig, item.route_id)
    assert [s["step"] for s in steps] == ["queued"]
