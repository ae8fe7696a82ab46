"""The project's commands run as a person runs them: ``python -m <module> ...`` in the
project's directory, under the interpreter running the tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from tests.support.stack import PROJECT_ROOT


def run_module(
    module: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m module args``, with ``env`` as its whole environment (default: this
    process's), its output captured as text. The exit status is the caller's to check;
    ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
