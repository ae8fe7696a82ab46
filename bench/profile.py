"""Where each service's CPU goes under the bench's load: py-spy (a sampling profiler that
reads a running interpreter's stacks from outside, a dev dependency) attached to the service
processes for the length of a phase, and its samples summed per function.

``make bench ARGS="--profile"`` writes, per phase and service, the collapsed stacks
(``.dev/profiles/<phase>/<service>.txt``, for flame-graph tools) and puts the top functions
in ``.dev/bench.json`` under ``profiles``: by **self** time (the function itself was on the
CPU) and by **inclusive** time (it, or something it called, was). Only samples in which the
thread was running are kept (``py-spy`` leaves idle ones out by default), so the shares are
of the CPU the process used, not of the wall-clock time. Profiling costs CPU of its own (one
``py-spy`` process per service, sampling without pausing the target): figures from a
profiled run are not comparable with an unprofiled one.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLES_PER_SECOND = 50
"""Low enough that seven samplers cost a few per cent of two cores; a 30 s phase still
gives each busy process over a thousand samples."""
TOP = 15

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter (the venv's), or on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profiler:
    """py-spy recording each of ``pids`` (name: pid) into ``directory`` until ``stop``."""

    directory: Path
    pids: dict[str, int]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> Profiler:
        executable = py_spy()
        if executable is None:
            raise RuntimeError("py-spy is not installed (it is in requirements/dev.txt)")
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self.running[name] = subprocess.Popen(
                [
                    executable,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(SAMPLES_PER_SECOND),
                    # Never pauses the service to read its stack: the profile costs the
                    # service nothing but the cache misses (a stack read mid-update is
                    # occasionally garbled, which sampling averages away).
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(self.directory / f"{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
        return self

    def stop(self) -> dict[str, Any]:
        """Stop every recording (py-spy writes its file on SIGINT) and summarise each."""
        found: dict[str, Any] = {}
        for name, process in self.running.items():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                _, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            path = self.directory / f"{name}.txt"
            if path.exists():
                found[name] = summarise(path.read_text())
            else:
                found[name] = {"error": err.decode(errors="replace").strip()[-500:]}
        self.running.clear()
        return found


def function_of(frame: str) -> str:
    """``handle (services/router/handlers.py:120)`` → ``handle (services/router/handlers.py)``:
    a function's samples summed over its lines; site-packages paths shortened to the package."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['function']} ({file})"


def summarise(collapsed: str, top: int = TOP) -> dict[str, Any]:
    """From py-spy's collapsed stacks (``frame;frame;... count`` a line, outermost first):
    the number of samples and the ``top`` functions by self and by inclusive share, in %."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            continue
        count = int(match["count"])
        # The first frames name the process and the thread, not code.
        frames = [function_of(f) for f in match["stack"].split(";") if "(" in f]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for function in set(frames):
            inclusive[function] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / samples, 1)] for name, n in counter.most_common(top)]

    return {"samples": samples, "self_pct": share(own), "inclusive_pct": share(inclusive)}
