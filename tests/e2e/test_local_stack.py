"""What `make run` promises a newcomer: the discovery file, one process per service,
a clear answer to a second `make run`, and restarts of a process that dies."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaError

from schemas import topics
from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.topics_admin import admin_client
from tests.support.commands import run_module
from tests.support.faults import alive
from tests.support.kafka_reader import read_all
from tests.support.referrals import referral
from tests.support.stack import RunningStack, start, stop
from tests.support.waiting import eventually_sync

SERVICES = [s.value for s in Service]


def test_stack_file_tells_where_everything_is(hub: RunningStack) -> None:
    info = hub.info()
    assert set(info["provider_api_urls"]) == set(SERVICES)
    assert set(info["provider_keys"]) == set(SERVICES)
    assert set(info["staff_tokens"]) == {"triage", "supervisor", "commissioner"}
    assert info["database_url"].startswith("postgresql://")
    assert info["kafka_bootstrap_servers"]
    expected = {"referral_intake", "router"} | {f"provider_adapter.{s}" for s in SERVICES}
    assert set(info["processes"]) == expected
    assert len(set(info["processes"].values())) == len(expected)  # separate processes
    assert all(alive(pid) for pid in info["processes"].values())
    for url in [info["intake_url"], *info["provider_api_urls"].values()]:
        for path in ("/healthz", "/readyz"):
            assert httpx.get(url + path, timeout=5).status_code == 200
        metrics = httpx.get(url + "/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "hub_outbox_backlog" in metrics.text
    assert oct(hub.stack_file.stat().st_mode)[-3:] == "600"


def test_stack_file_names_each_process_kafka_principal(hub: RunningStack) -> None:
    """docs/contract.md ``kafka_security``: one principal per process, and the broker knows
    each of them (it authenticates them) and nobody else."""
    info = hub.info()
    security = info["kafka_security"]
    assert security["security_protocol"] == "SASL_PLAINTEXT"
    assert security["sasl_mechanism"] == "SCRAM-SHA-512"
    principals = security["principals"]
    assert set(principals) == set(info["processes"])
    assert len({p["username"] for p in principals.values()}) == len(principals)
    base = KafkaAccess(info["kafka_bootstrap_servers"])
    router = principals["router"]
    assert asyncio.run(_topics(base.as_user(router["username"], router["password"])))
    with pytest.raises(KafkaError):
        asyncio.run(_topics(base.as_user(router["username"], "not-its-password")))
    with pytest.raises(KafkaError):
        asyncio.run(_topics(base))


async def _topics(access: KafkaAccess) -> set[str]:
    async with admin_client(access, client_id="e2e-probe") as admin:
        return set(await admin.list_topics())


def test_a_second_make_run_says_the_hub_is_running(hub: RunningStack) -> None:
    second = run_module(
        "deploy.localstack", "run", "--state-dir", str(hub.state_dir), "--free-ports"
    )
    assert second.returncode == 1
    assert "already running" in second.stdout
    assert "stack.json" in second.stdout
    assert hub.stack_file.exists()  # the running hub is untouched


def test_a_service_process_that_dies_is_restarted(hub: RunningStack) -> None:
    before = hub.info()["processes"]["provider_adapter.CLIMB"]
    os.kill(before, signal.SIGKILL)

    def restarted() -> int | None:
        pid: int = hub.info()["processes"]["provider_adapter.CLIMB"]
        return pid if pid != before else None

    after = eventually_sync(restarted, timeout=30, what="a new CLIMB adapter pid in stack.json")
    url = hub.info()["provider_api_urls"]["CLIMB"]

    def ready() -> bool:
        try:
            return httpx.get(url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    eventually_sync(ready, timeout=60, what="the restarted adapter to be ready")
    assert alive(after)
    climb = hub.provider("CLIMB")
    assert climb.get("/v1/queue").status_code == 200


def test_a_second_make_run_keeps_the_referrals_of_the_first(tmp_path: Path) -> None:
    """The embedded database and the broker's log live in the state directory: stop the hub,
    start it again, and yesterday's referrals are still there, and so are the broker's
    records and the consumer groups' offsets (nothing is decided twice)."""
    first = start(tmp_path, ephemeral=False)
    try:
        created = first.staff().post("/v1/referrals", json=referral())
        assert created.status_code == 202
        referral_id = created.json()["referral_id"]
        eventually_sync(
            lambda: first.staff().get(f"/v1/referrals/{referral_id}").json()["decision"],
            what="the decision",
        )
    finally:
        assert stop(first) == 0
    again = start(tmp_path, ephemeral=False)
    try:
        view = again.staff().get(f"/v1/referrals/{referral_id}")
        assert view.status_code == 200
        assert view.json()["status"] == "routed"
        decisions = asyncio.run(_decisions(again.info()["database_url"], referral_id))
        assert decisions == 1  # the router's committed offset survived: not decided again
        received = asyncio.run(_records_for(again, referral_id))
        assert received == 1  # the broker kept its log
    finally:
        assert stop(again) == 0
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()
    assert (tmp_path / "kafka" / "data" / "meta.properties").exists()


async def _decisions(database_url: str, referral_id: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM router.decisions WHERE referral_id = $1::uuid", referral_id
            )
        )
    finally:
        await conn.close()


async def _records_for(stack: RunningStack, referral_id: str) -> int:
    records = await read_all(stack.kafka_admin(), [topics.REFERRAL_RECEIVED])
    return sum(1 for r in records if r.key == referral_id.encode())


def test_the_dead_letter_tool_works_as_its_own_principal(hub: RunningStack) -> None:
    """``make dead-letters`` elsewhere: the tool reads every dead-letter topic with the
    credentials of its own principal (which may read no other topic), from the settings."""
    info = hub.info()
    tool = info["kafka_security"]["tools"]["dead_letters"]
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": info["kafka_bootstrap_servers"],
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": tool["username"],
        "KAFKA_SASL_PASSWORD": tool["password"],
        "DATABASE_URL": info["database_url"],
    }
    listed = run_module("services.plumbing.deadletters", "list", "--all", env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "dead letter(s)" in listed.stdout
    env["KAFKA_SASL_PASSWORD"] = "not-its-password"
    refused = run_module("services.plumbing.deadletters", "list", env=env, timeout=120)
    assert refused.returncode == 2
    assert "Cannot use Kafka" in refused.stderr
    assert "Traceback" not in refused.stderr
