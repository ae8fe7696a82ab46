"""The whole hub as separate processes, started exactly as ``make run`` starts it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from deploy.localstack.processes import launch_stack
from deploy.localstack.stack import kafka_admin_access
from services.plumbing.kafka_access import KafkaAccess
from tests.support.waiting import eventually_sync

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    state_dir: Path
    process: subprocess.Popen[bytes]
    output: Path
    provider_keys: dict[str, str] = field(default_factory=dict)
    """Keys a test rolled to (the configured one retired): ``provider`` uses them after."""

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(self.stack_file.read_text())
        return info

    def kafka_admin(self) -> KafkaAccess:
        """The stack's broker as its super user: to read back every topic."""
        return kafka_admin_access(self.info())

    def staff(self, role: str = "triage") -> httpx.Client:
        info = self.info()
        return httpx.Client(
            base_url=info["intake_url"],
            headers={"Authorization": f"Bearer {info['staff_tokens'][role]}"},
            timeout=10,
        )

    def provider(self, service: str) -> httpx.Client:
        info = self.info()
        return httpx.Client(
            base_url=info["provider_api_urls"][service],
            headers={
                "Authorization": "Bearer "
                + self.provider_keys.get(service, info["provider_keys"][service])
            },
            timeout=10,
        )

    def log_text(self) -> str:
        """Everything the processes wrote: each service's log and the supervisor's output."""
        return "\n".join(
            p.read_text(errors="replace")
            for p in [*(self.state_dir / "logs").glob("*.log"), self.output]
        )

    @property
    def hosts_file(self) -> Path:
        """The adapters resolve names here before DNS (``OUTBOUND_HOSTS_FILE``)."""
        return self.state_dir / "hosts"

    def point(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` for the hub's outbound calls from now on
        (the file is read afresh for each), replacing what it resolved to before."""
        lines = [
            line for line in self.hosts_file.read_text().splitlines() if line.split()[1:] != [name]
        ]
        self.hosts_file.write_text("\n".join([*lines, f"{address} {name}"]) + "\n")

    def spans(self) -> list[dict[str, Any]]:
        """Finished spans of every process, when the stack was started with
        ``TELEMETRY_SPANS_DIR`` (the ``hub`` fixture does)."""
        found: list[dict[str, Any]] = []
        for path in sorted((self.state_dir / "spans").glob("*.jsonl")):
            for line in path.read_text().splitlines():
                if line.strip():
                    found.append(json.loads(line))
        return found

    def referrals_stored(self) -> int:
        """Referrals and submissions intake has stored, all told: a request refused for its
        input leaves it as it was."""

        async def count() -> int:
            conn = await asyncpg.connect(self.info()["database_url"])
            try:
                return int(
                    await conn.fetchval(
                        """SELECT (SELECT count(*) FROM intake.referrals)
                                  + (SELECT count(*) FROM intake.submissions)"""
                    )
                )
            finally:
                await conn.close()

        return asyncio.run(count())

    def spans_text(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in (self.state_dir / "spans").glob("*.jsonl")
        )


def start(
    state_dir: Path,
    *extra_args: str,
    env_overrides: dict[str, str] | None = None,
    ephemeral: bool = True,
) -> RunningStack:
    output = state_dir / "supervisor.out"
    hosts = state_dir / "hosts"
    hosts.touch()
    # Webhook timings short enough for the tests to watch retries happen.
    settings = {
        # Names the tests point at chosen addresses (RunningStack.point), without DNS.
        "OUTBOUND_HOSTS_FILE": str(hosts),
        "WEBHOOK_TIMEOUT_SECONDS": "1.5",
        "WEBHOOK_FIRST_RETRY_SECONDS": "0.3",
        "WEBHOOK_MAX_BACKOFF_SECONDS": "2",
        # Reconciliation soon enough for fault tests to watch it heal the hub.
        "RECONCILE_AFTER_SECONDS": "4",
        "WATCHDOG_INTERVAL_SECONDS": "1",
        "CONSUMER_LAG_INTERVAL_SECONDS": "1",
        # Every test client is on 127.0.0.1: deliberate 401s must not throttle the tests
        # after them (the throttle has its own tests, from other source addresses).
        "HTTP_FAILED_AUTHENTICATIONS": "10000/minute",
        **(env_overrides or {}),
    }
    flags = ["--ephemeral"] if ephemeral else []
    process = launch_stack(state_dir, output, *flags, *extra_args, env_overrides=settings)
    stack = RunningStack(state_dir, process, output)

    def started() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"make run exited early:\n{output.read_text()}")
        return stack.stack_file.exists()

    eventually_sync(started, timeout=180, interval=0.2, what="stack.json")
    return stack


def stop(stack: RunningStack) -> int:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
    return stack.process.wait(timeout=60)


@contextmanager
def running_stack(
    state_dir: Path, env_overrides: dict[str, str] | None = None, extra_args: tuple[str, ...] = ()
) -> Iterator[RunningStack]:
    """``extra_args``: more of ``make run``'s options (``--routers 3``)."""
    stack = start(state_dir, *extra_args, env_overrides=env_overrides)
    try:
        yield stack
    finally:
        stop(stack)
