"""The bench's own hub: started exactly as ``make run`` (and the e2e tests) start it, in a
temporary state directory on free ports, with a durable embedded PostgreSQL (fsync on, as
``make run`` has it), and taken down afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.localstack.processes import launch_stack
from deploy.localstack.stack import kafka_admin_access
from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 180.0
SERVICES = tuple(s.value for s in Service)


@dataclass
class Hub:
    state_dir: Path
    process: subprocess.Popen[bytes]
    paused: set[int] = field(default_factory=set)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.state_dir / "stack.json").read_text())
        return info

    @property
    def database_url(self) -> str:
        return str(self.info()["database_url"])

    @property
    def kafka(self) -> KafkaAccess:
        """The hub's broker as its super user (the bench makes a topic of its own)."""
        return kafka_admin_access(self.info())

    def pids(self, *names: str) -> list[int]:
        """A service's name also names its replicas (``router#2`` under ``ROUTERS=3``)."""
        processes: dict[str, int] = self.info()["processes"]
        return [
            pid
            for name, pid in processes.items()
            if not names or name in names or name.partition("#")[0] in names
        ]

    def pause(self, *names: str) -> None:
        """Stop service processes (SIGSTOP) so that they take no CPU and consume nothing."""
        for pid in self.pids(*names):
            os.kill(pid, signal.SIGSTOP)
            self.paused.add(pid)

    def resume(self, *names: str) -> None:
        for pid in self.pids(*names):
            os.kill(pid, signal.SIGCONT)
            self.paused.discard(pid)

    def peak_rss_mb(self) -> dict[str, float | None]:
        """Each service process's peak resident set size (``VmHWM``), in MB."""
        return {name: _peak_mb(pid) for name, pid in self.info()["processes"].items()}

    def broker_peak_rss_mb(self) -> float | None:
        """The broker's (a JVM's) peak resident set size, in MB."""
        pid = self.info()["infrastructure"].get("kafka")
        return _peak_mb(pid) if pid else None

    def restarts(self) -> int:
        """How often the supervisor restarted a service (a crash during the bench)."""
        output = (self.state_dir / "supervisor.out").read_text(errors="replace")
        return output.count(" restarted ")


def _peak_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")),
        None,
    )
    return round(kib / 1024, 1) if kib is not None else None


@contextmanager
def running_hub(env: dict[str, str] | None = None) -> Iterator[Hub]:
    """A hub of the bench's own; ``env`` is added to its processes' environment."""
    state_dir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    process = launch_stack(state_dir, state_dir / "supervisor.out", env_overrides=env)
    hub = Hub(state_dir, process)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (state_dir / "stack.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                output = (state_dir / "supervisor.out").read_text(errors="replace")
                raise RuntimeError(f"the hub did not start:\n{output[-3000:]}")
            time.sleep(0.2)
        yield hub
    finally:
        for pid in list(hub.paused):
            with suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(state_dir, ignore_errors=True)
