"""Every line a service process writes is one JSON object (issue 15): its own loggers,
FastStream's, aiokafka's and uvicorn's, Python's warnings, from start to stop, with no
terminal colours. Each service is started as ``python -m services.<name>`` against the
session's PostgreSQL and broker, asked something over HTTP, and stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from deploy.localstack.ports import free_port
from services.plumbing.kafka_access import KafkaAccess
from tests.support.services import CREDENTIALS, common_env
from tests.support.stack import PROJECT_ROOT
from tests.support.waiting import eventually_sync


def _environment(settings: dict[str, object]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    for name, value in settings.items():
        if value is None:
            continue
        env[name.upper()] = json.dumps(value) if isinstance(value, dict) else str(value)
    return {**env, "PYTHONPATH": str(PROJECT_ROOT), "LOG_JSON": "true"}


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("module", ["services.router", "services.referral_intake"])
def test_every_line_a_service_writes_is_one_json_object(
    module: str, module_database_url: str, module_kafka: KafkaAccess
) -> None:
    port = free_port()
    settings: dict[str, Any] = {
        **common_env(module_database_url, module_kafka),
        "http_port": port,
        "log_level": "DEBUG",  # every library's chatter too
    }
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        env=_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def started() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{module} exited:\n{process.communicate()[0]}")
            return _ready(port)

        eventually_sync(started, timeout=90, interval=0.2, what=f"{module} ready")
        token = CREDENTIALS.staff_tokens["supervisor"]
        base = f"http://127.0.0.1:{port}"
        # A refusal (logged), a request that works, and one with no credentials.
        httpx.get(f"{base}/v1/policies", headers={"Authorization": "Bearer wrong"}, timeout=5)
        httpx.get(f"{base}/v1/policies", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        httpx.get(f"{base}/v1/referrals", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully.
    assert process.returncode in (0, -signal.SIGTERM), output
    lines = [line for line in output.splitlines() if line.strip()]
    assert any("service started" in line for line in lines), output
    assert "\x1b" not in output  # no terminal colours,
    assert "\\u001b" not in output  # not even escaped inside the JSON
    records = [json.loads(line) for line in lines]
    for line, record in zip(lines, records, strict=True):
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
    # A normal start and stop warns of nothing but what the test provoked (the wrong key):
    # expected start-up warnings are silenced, each with its reason (services/plumbing/logs.py).
    warned = {r["message"] for r in records if r["level"] in ("WARNING", "ERROR", "CRITICAL")}
    assert warned <= {"authentication failed"}, warned
