"""What machine the figures were measured on, and how busy it was with other work meanwhile
(read from /proc: the bench adds no dependency for it)."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def describe() -> dict[str, Any]:
    cpu_model = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if "MemTotal" in line
        ),
        0,
    )
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_gb": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _machine_ticks() -> tuple[int, int, int]:
    """(busy in processes, interrupts, total) jiffies since boot, all cores. Interrupt time
    (mostly loopback networking) is not charged to any process, so it is kept apart."""
    fields = [int(v) for v in _read("/proc/stat").splitlines()[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return user + nice + system, irq + softirq, sum(fields)


def _process_table() -> dict[int, tuple[int, int, int]]:
    """pid: (parent pid, CPU jiffies used, the same with its reaped children's) for every
    process (the kernel adds a child's time to its parent's ``cutime``/``cstime`` when the
    parent reaps it: PostgreSQL's backends that have exited)."""
    table: dict[int, tuple[int, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(f"/proc/{entry.name}/stat")
        if not stat:
            continue
        rest = stat.rsplit(")", 1)[-1].split()
        own, reaped = int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])
        table[int(entry.name)] = (int(rest[1]), own, own + reaped)
    return table


def _ours(table: dict[int, tuple[int, int, int]], roots: set[int]) -> int:
    """CPU jiffies used by ``roots`` and all their descendants."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, stack, seen = 0, list(roots), set()
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        stack.extend(children.get(pid, []))
    return total


def _tree_jiffies(roots: dict[str, int], alone: frozenset[str]) -> dict[str, int]:
    """CPU jiffies (user + system) used so far by each named process and its descendants,
    including descendants that have exited and been reaped. The processes
    named in ``alone`` are counted without their descendants (the bench's own process, whose
    descendants are the hub)."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    used: dict[str, int] = {}
    for name, root in roots.items():
        total, stack, seen = 0, [root], set()
        while stack:
            pid = stack.pop()
            if pid in seen or pid not in table:
                continue
            seen.add(pid)
            if name in alone:  # without its children, living or reaped (py-spy, the hub)
                total += table[pid][1]
            else:
                total += table[pid][2]
                stack.extend(children.get(pid, []))
        used[name] = total
    return used


@dataclass
class ProcessCpu:
    """CPU time each of the hub's processes (each service, the database with its backends,
    the broker, the load generator) used during a phase: divided by the referrals the phase
    moved, a figure that does not depend on how busy the machine was with other work, so
    it compares across runs and machines better than a rate does."""

    roots: dict[str, int]
    alone: frozenset[str] = frozenset()
    before: dict[str, int] | None = None

    def start(self) -> ProcessCpu:
        self.before = _tree_jiffies(self.roots, self.alone)
        return self

    def stop(self) -> dict[str, float]:
        """Seconds of CPU per process since ``start``."""
        after = _tree_jiffies(self.roots, self.alone)
        before = self.before or {}
        return {
            name: round(max(after.get(name, 0) - before.get(name, 0), 0) / TICKS, 2)
            for name in self.roots
        }


@dataclass
class CpuWatch:
    """Machine-wide CPU use during a phase, split into the bench's own processes (the load
    generator, the hub, its database and broker) and everything else on the machine."""

    roots: set[int]
    started: float = 0.0
    busy0: int = 0
    irq0: int = 0
    total0: int = 0
    ours0: int = 0

    def start(self) -> CpuWatch:
        self.started = time.monotonic()
        self.busy0, self.irq0, self.total0 = _machine_ticks()
        self.ours0 = _ours(_process_table(), self.roots)
        return self

    def stop(self) -> dict[str, float]:
        busy1, irq1, total1 = _machine_ticks()
        ours1 = _ours(_process_table(), self.roots)
        cores = os.cpu_count() or 1
        total = max(total1 - self.total0, 1)
        busy = busy1 - self.busy0
        ours = max(ours1 - self.ours0, 0)
        return {
            "machine_busy_pct": round(100 * (busy + irq1 - self.irq0) / total, 1),
            "interrupts_pct": round(100 * (irq1 - self.irq0) / total, 1),
            "bench_and_hub_pct": round(100 * min(ours, busy) / total, 1),
            "other_work_pct": round(100 * max(busy - ours, 0) / total, 1),
            "cores": cores,
        }
