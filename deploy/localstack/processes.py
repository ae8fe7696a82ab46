"""Child processes that die with their parent (Linux ``PR_SET_PDEATHSIG``), so that a
supervisor killed without warning leaves no orphaned servers behind."""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(user: int | None = None) -> Callable[[], None]:
    gid = pwd.getpwuid(user).pw_gid if user is not None else None

    def preexec() -> None:
        # Own session: Ctrl-C reaches the supervisor only, which stops children in order.
        os.setsid()
        if user is not None and gid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(user)
        # Last: the kernel clears the parent-death signal when credentials change.
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


def spawn(
    argv: list[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: int | None = None,
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[Any] = open(log_path, "ab")  # noqa: SIM115 - the child keeps it open
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            preexec_fn=_die_with_parent(user),
        )
    finally:
        log.close()


def stop(
    process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 20.0
) -> int | None:
    """Ask politely, wait, then insist. Returns the exit code."""
    if process.poll() is not None:
        return process.returncode
    try:
        process.send_signal(sig)
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=5)


EXTERNAL_INFRASTRUCTURE = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
"""What would make the local stack use another database or broker instead of its own."""


def launch_stack(
    state_dir: Path,
    output: Path,
    *extra_args: str,
    env_overrides: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``make run`` in the background on free ports, in ``state_dir``, on its own embedded
    database and broker whatever this environment names, its output in ``output``: how the
    tests and the bench get a hub of their own."""
    env = {k: v for k, v in os.environ.items() if k not in EXTERNAL_INFRASTRUCTURE}
    env.update(env_overrides or {})
    command = [sys.executable, "-m", "deploy.localstack", "run", "--state-dir", str(state_dir)]
    with open(output, "wb") as out:
        return subprocess.Popen(
            [*command, "--free-ports", *extra_args],
            cwd=Path(__file__).resolve().parents[2],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
