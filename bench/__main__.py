"""``make bench``: the hub's throughput and latency, each measured against a raw baseline in
the same run on the same machine, written to ``.dev/bench.json`` with a readable summary.

The run starts its own hubs (as ``make run`` does, in temporary directories on free ports),
takes at most about ten minutes, and never asserts: docs/performance.md explains each
figure, how to read it and what limits it.

Phases, in order: the policy in process (before anything else runs). On a first hub: with
the router paused, sustained intake submissions and the raw-insert baseline; the raw Kafka
passthrough of the referral events intake produced; the router let go on the same events.
That hub is then taken down with the router's output unconsumed, so that the end-to-end
runs do not start behind it. On a second, fresh hub: an open-loop run at the required rate,
its backlog waited for until every referral reached its adapters (bounded: ``drained_in_s``,
``lost``); an open-loop run at a rate the hub sustains (70 % of what it delivered in the
first), likewise; then the commissioner's report over a million referrals. Each service's
peak memory is the larger of its two hubs'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench import machine, phases, profile
from bench import policy as policy_bench
from bench.stack import PROJECT_ROOT, SERVICES, Hub, running_hub
from schemas import topics

RESULTS = PROJECT_ROOT / ".dev" / "bench.json"
BUDGET_SECONDS = 570.0
"""The whole run stays under ten minutes; phases that would not fit are skipped, saying so."""
REPORT_NEEDS_SECONDS = 150.0
IDLE_SECONDS = 10.0

TARGETS: dict[str, tuple[str, float]] = {
    "router_ratio": (">=", 0.5),
    "intake_per_s": (">=", 1000),
    "e2e_rate_per_s": (">=", 200),
    "e2e_p99_ms": ("<=", 100),
    "lost": ("<=", 0),
    "policy_decisions_per_s": (">=", 20_000),
    "peak_rss_mb_max": ("<=", 200),
}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


PER_REFERRAL: dict[str, str] = {
    "intake": "intake_accepted",
    "raw_passthrough": "raw_passthrough_events",
    "router": "router_events",
    "e2e": "e2e_accepted",
    "e2e_steady": "e2e_steady_accepted",
}
"""For each phase whose CPU time is divided per referral: the figure that counts the
referrals (or, for the Kafka phases, the referral events) it moved."""
PROFILED = ("intake", "router", "idle", "e2e", "e2e_steady")
"""The phases ``--profile`` records the services in (the others run no service code)."""
_profile_to: Path | None = None


def _process_roots(hub: Hub) -> dict[str, int]:
    """Every process whose CPU time the bench reports: the load generator (this process, the
    raw baselines run in it), each service, the database (with its backends) and the broker."""
    info = hub.info()
    roots = {"bench": os.getpid(), **info["processes"]}
    for name in ("postgres", "kafka"):
        if info["infrastructure"].get(name):
            roots[name] = info["infrastructure"][name]
    return roots


async def _phase(
    name: str,
    results: dict[str, Any],
    run: Callable[[], Awaitable[dict[str, Any]]],
    roots: set[int],
    hub: Hub,
) -> dict[str, Any]:
    print(f"  {name} ...", flush=True)
    watch = machine.CpuWatch(roots).start()
    processes = machine.ProcessCpu(_process_roots(hub), alone=frozenset({"bench"})).start()
    profiler = None
    if _profile_to is not None and name in PROFILED:
        profiler = profile.Profiler(_profile_to / name, hub.info()["processes"]).start()
    started = time.perf_counter()
    try:
        outcome = await run()
    finally:
        if profiler is not None:
            results.setdefault("profiles", {})[name] = profiler.stop()
    cpu_seconds = processes.stop()
    results["phases"][name] = {
        "seconds": round(time.perf_counter() - started, 1),
        "cpu": watch.stop(),
        "cpu_seconds": cpu_seconds,
        **{k: v for k, v in outcome.items() if not k.startswith(("intake_per", "raw_", "e2e_p"))},
    }
    count = outcome.get(PER_REFERRAL.get(name, ""))
    if isinstance(count, int) and count > 0:
        per = {k: round(1000 * v / count, 3) for k, v in cpu_seconds.items()}
        results.setdefault("cpu_ms_per_referral", {})[name] = per
    results.update(outcome)
    return outcome


async def _throughput(
    args: argparse.Namespace, hub: Hub, results: dict[str, Any], began: float
) -> None:
    """The first hub: intake, the database baseline, the Kafka baseline and the router, each
    with the rest of the hub paused. The router's output (a work item per route of some
    twenty thousand referrals) is never worked off: this hub is taken down after it, so that
    the end-to-end runs start on a hub with nothing to catch up on."""
    roots = {os.getpid(), hub.process.pid}
    results["stacks"] = {"throughput": {"started_in_s": round(time.monotonic() - began, 1)}}
    hub.pause("router")  # the referral events intake produces wait for the router phase
    await _phase(
        "intake",
        results,
        lambda: phases.intake_load(
            hub,
            concurrency=args.concurrency,
            seconds=args.intake_seconds,
            warmup=3.0,
            max_rate=2500,
        ),
        roots,
        hub=hub,
    )
    await _phase(
        "raw_insert",
        results,
        lambda: phases.raw_insert(hub, concurrency=args.concurrency, seconds=args.insert_seconds),
        roots,
        hub=hub,
    )
    results["intake_ratio"] = _ratio(results.get("intake_per_s"), results.get("raw_insert_per_s"))
    await _wait_intake_outbox(hub)
    await _phase(
        "preload",
        results,
        lambda: phases.preload_referral_events(hub, events=args.router_events),
        roots,
        hub=hub,
    )
    backlog = await phases.events_on(hub, topics.REFERRAL_RECEIVED)
    await _phase(
        "raw_passthrough",
        results,
        lambda: phases.raw_passthrough(hub, events=backlog),
        roots,
        hub=hub,
    )
    await _phase(
        "router", results, lambda: phases.router_drain(hub, limit_seconds=150), roots, hub=hub
    )
    results["router_ratio"] = _ratio(
        results.get("router_throughput_per_s"), results.get("raw_passthrough_per_s")
    )
    _note_hub(results, "throughput", hub)
    hub.pause(*hub.info()["processes"])  # nothing more to measure here


async def _latency(
    args: argparse.Namespace, hub: Hub, results: dict[str, Any], began: float
) -> None:
    """The second hub, fresh and idle: the open loop at the required rate, its backlog
    drained; then at a rate the hub sustains; then the report over a million referrals."""
    roots = {os.getpid(), hub.process.pid}
    info = hub.info()

    def left() -> float:
        return BUDGET_SECONDS - (time.monotonic() - began)

    async def run(prefix: str, rate: float, first: int, seed: int) -> dict[str, Any]:
        load = await phases.open_loop(
            hub, rate=rate, seconds=args.e2e_seconds, first=first, seed=seed
        )
        # Bounded, and never into the time the steady run and the report need.
        reserve = (args.e2e_seconds + 30 if prefix == "e2e" else 0) + REPORT_NEEDS_SECONDS + 10
        return await phases.follow(
            hub,
            load,
            limit_seconds=max(min(args.drain_limit, left() - reserve), 10.0),
            stall_seconds=30.0,
            prefix=prefix,
        )

    await _phase("idle", results, lambda: _idle(IDLE_SECONDS), roots, hub=hub)
    idle = results["phases"]["idle"]
    results["idle_cpu_pct_of_a_core"] = {
        name: round(100 * used / idle["seconds"], 1) for name, used in idle["cpu_seconds"].items()
    }
    await _phase("e2e", results, lambda: run("e2e", args.rate, 5_000_000, 2), roots, hub=hub)
    results["lost"] = results.get("e2e_lost")
    results["drained_in_s"] = results.get("e2e_drained_in_s")
    steady = args.steady_rate
    if steady is None:
        # 70 % of what the hub delivered while loaded above its capacity; the offered rate
        # itself when it kept up.
        delivered = results.get("e2e_completed_during_load_per_s") or 0.0
        steady = max(10.0, round(0.7 * min(delivered, args.rate)))
    if left() > args.e2e_seconds + 30:
        await _phase(
            "e2e_steady", results, lambda: run("e2e_steady", steady, 7_000_000, 3), roots, hub=hub
        )
    else:
        results["e2e_steady_note"] = f"skipped: {left():.0f} s of the time budget left"
    if results.get("lost") is not None and results.get("e2e_steady_lost") is not None:
        results["lost"] += results["e2e_steady_lost"]  # lost in either run
    _note_hub(results, "latency", hub)
    remaining = left()
    results["report_seconds_1m"] = None
    if args.skip_report:
        results["report_note"] = "skipped (--skip-report)"
    elif remaining < REPORT_NEEDS_SECONDS:
        results["report_note"] = f"skipped: {remaining:.0f} s of the time budget left"
    else:
        try:
            from bench import report  # written separately; may not be there yet
        except ImportError as exc:
            results["report_note"] = f"bench.report is not available: {exc}"
        else:
            hub.pause(*info["processes"])  # the report reads the database alone
            try:
                await _phase(
                    "report",
                    results,
                    lambda: _report(report.report_seconds, hub.database_url, remaining),
                    roots,
                    hub=hub,
                )
            finally:
                hub.resume(*info["processes"])


async def _idle(seconds: float) -> dict[str, Any]:
    """Nothing sent: what the hub costs while it waits (consumers' fetches, relays, timers)."""
    await asyncio.sleep(seconds)
    return {}


def _note_hub(results: dict[str, Any], name: str, hub: Hub) -> None:
    """Each service's peak memory and restarts on this hub; the figures take the worst."""
    stack = results.setdefault("stacks", {}).setdefault(name, {})
    stack["peak_rss_mb"] = hub.peak_rss_mb()
    stack["broker_peak_rss_mb"] = hub.broker_peak_rss_mb()
    stack["service_restarts"] = hub.restarts()
    brokers = [s.get("broker_peak_rss_mb") for s in results["stacks"].values()]
    results["broker_peak_rss_mb"] = max((b for b in brokers if b is not None), default=None)
    peaks: dict[str, float | None] = {}
    for each in results["stacks"].values():
        for service, mb in (each.get("peak_rss_mb") or {}).items():
            if mb is not None and (peaks.get(service) is None or mb > (peaks[service] or 0)):
                peaks[service] = mb
            else:
                peaks.setdefault(service, None)
    results["peak_rss_mb"] = peaks
    values = [v for v in peaks.values() if v is not None]
    results["peak_rss_mb_max"] = max(values) if values else None
    results["service_restarts"] = sum(
        each.get("service_restarts", 0) for each in results["stacks"].values()
    )


async def _report(
    measure: Callable[[str], Awaitable[float]], database_url: str, remaining: float
) -> dict[str, Any]:
    try:
        seconds = await asyncio.wait_for(measure(database_url), timeout=remaining - 30)
    except TimeoutError:
        return {"report_seconds_1m": None, "report_note": "did not finish within the budget"}
    return {"report_seconds_1m": round(seconds, 3)}


async def _wait_intake_outbox(hub: Hub) -> None:
    """Every referral event intake accepted is on the broker before the Kafka phases."""
    from services.plumbing import db

    conn = await db.connect(hub.database_url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = await conn.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"
            )
            if left == 0:
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


def _targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    verdicts: dict[str, dict[str, Any]] = {}
    for name, (op, bound) in TARGETS.items():
        value = results.get(name)
        met = None
        if isinstance(value, int | float):
            met = value >= bound if op == ">=" else value <= bound
        verdicts[name] = {"target": f"{op} {bound:g}", "value": value, "met": met}
    return verdicts


def summary(results: dict[str, Any]) -> str:
    def fig(name: str, unit: str = "") -> str:
        value = results.get(name)
        return "n/a" if value is None else f"{value:,}{unit}"

    lines = [
        "",
        f"Referral hub bench, {results['finished_at']}  ({results['machine']['cores']} cores, "
        f"{results['machine']['memory_gb']} GB, {results['machine']['cpu_model']})",
        f"  policy, in process       {fig('policy_decisions_per_s')} decisions/s",
        f"  intake                   {fig('intake_per_s')} referrals/s   raw insert "
        f"{fig('raw_insert_per_s')}/s   ratio {fig('intake_ratio')}",
        f"  router                   {fig('router_throughput_per_s')} events/s   raw passthrough "
        f"{fig('raw_passthrough_per_s')}/s   ratio {fig('router_ratio')}",
        f"  end to end, offered {fig('e2e_offered_per_s')}/s: accepted {fig('e2e_rate_per_s')}/s "
        f"(refused {(results.get('e2e_errors') or {}).get('503', 0)}), delivered "
        f"{fig('e2e_completed_during_load_per_s')}/s   p50 {fig('e2e_p50_ms')} ms   p95 "
        f"{fig('e2e_p95_ms')} ms   p99 {fig('e2e_p99_ms')} ms   drained in "
        f"{fig('drained_in_s', ' s')}   lost {fig('lost')}",
        f"  end to end, offered {fig('e2e_steady_offered_per_s')}/s: accepted "
        f"{fig('e2e_steady_rate_per_s')}/s   p50 {fig('e2e_steady_p50_ms')} ms   p95 "
        f"{fig('e2e_steady_p95_ms')} ms   p99 {fig('e2e_steady_p99_ms')} ms   drained in "
        f"{fig('e2e_steady_drained_in_s', ' s')}   lost {fig('e2e_steady_lost')}",
        f"  report over 1M referrals {fig('report_seconds_1m', ' s')}"
        + (f"  ({results['report_note']})" if results.get("report_note") else ""),
        "  peak RSS (MB)            "
        + ", ".join(f"{k} {v}" for k, v in (results.get("peak_rss_mb") or {}).items())
        + f"; the broker {fig('broker_peak_rss_mb')}",
        *_cpu_lines(results),
        "  idle, CPU % of one core: "
        + ", ".join(f"{k} {v}" for k, v in (results.get("idle_cpu_pct_of_a_core") or {}).items()),
        "  other work on the machine during each phase (% of all cores): "
        + ", ".join(
            f"{name} {phase['cpu']['other_work_pct']}"
            for name, phase in results.get("phases", {}).items()
            if "cpu" in phase
        ),
        "  targets: "
        + ", ".join(
            f"{name} {'met' if v['met'] else 'NOT met' if v['met'] is False else 'n/a'}"
            for name, v in results.get("targets", {}).items()
        ),
        f"Written to {results.get('written_to', RESULTS)}",
    ]
    return "\n".join(lines)


def _cpu_lines(results: dict[str, Any]) -> list[str]:
    """CPU time per referral (per referral event in the Kafka phases), ms, per process: the
    services by short name, then the database, the broker and the bench's own process."""
    short = {"referral_intake": "intake", "router": "router"}
    lines = ["  CPU ms per referral, by process:"]
    for phase, per in (results.get("cpu_ms_per_referral") or {}).items():
        shown = ", ".join(
            f"{short.get(name, name.removeprefix('provider_adapter.'))} {ms:g}"
            for name, ms in per.items()
            if ms > 0
        )
        lines.append(f"    {phase:<16} {shown}")
    return lines if len(lines) > 1 else []


def _run_async(work: Coroutine[Any, Any, None]) -> None:
    """On uvloop, as the services are: the load generator shares the cores with the hub it
    measures, and every microsecond it spends is taken from the hub."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(work)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--intake-seconds", type=float, default=15.0)
    parser.add_argument("--insert-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--e2e-seconds", type=float, default=60.0)
    parser.add_argument(
        "--steady-rate",
        type=float,
        default=None,
        help="offered rate of the second open-loop run (default: 70 %% of what the hub "
        "delivered during the first)",
    )
    parser.add_argument(
        "--drain-limit",
        type=float,
        default=180.0,
        help="at most this long after each open-loop run for its backlog to reach the adapters",
    )
    parser.add_argument("--router-events", type=int, default=10_000)
    parser.add_argument("--policy-decisions", type=int, default=20_000)
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument(
        "--skip-throughput",
        action="store_true",
        help="only the end-to-end hub (for a profile or a trace of the latency runs)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record every service with py-spy during the intake, router and end-to-end "
        "phases: top functions in the results, collapsed stacks in .dev/profiles/ (costs CPU: "
        "do not compare the rates with an unprofiled run)",
    )
    parser.add_argument(
        "--spans-dir",
        type=Path,
        default=None,
        help="every service of the end-to-end hub writes its spans there (JSON lines); "
        "`python -m bench.trace DIR` then shows the slowest referrals hop by hop (costs CPU)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    global _profile_to
    _profile_to = PROJECT_ROOT / ".dev" / "profiles" if args.profile else None

    began = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "phases": {},
        "settings": {k: v for k, v in vars(args).items() if k != "output"},
        "services": ["referral_intake", "router", *(f"provider_adapter.{s}" for s in SERVICES)],
    }
    print("Policy evaluation in process ...", flush=True)
    policy = policy_bench.run(args.policy_decisions, seed=2026)
    results["policy_decisions_per_s"] = policy["decisions_per_second"]
    results["phases"]["policy"] = policy
    try:
        print(
            "Starting a hub (embedded PostgreSQL with fsync, Apache Kafka, 7 services) ...",
            flush=True,
        )
        if args.skip_throughput:
            results["stacks"] = {}
        else:
            with running_hub() as hub:
                _run_async(_throughput(args, hub, results, began))
        print("Starting a fresh hub for the end-to-end runs ...", flush=True)
        second = time.monotonic()
        spans = {"TELEMETRY_SPANS_DIR": str(args.spans_dir.resolve())} if args.spans_dir else {}
        with running_hub(spans) as hub:
            results["stacks"]["latency"] = {"started_in_s": round(time.monotonic() - second, 1)}
            _run_async(_latency(args, hub, results, began))
    finally:
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["seconds"] = round(time.monotonic() - began, 1)
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
        results["targets"] = _targets(results)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
        results["written_to"] = str(args.output)
        print(summary(results), flush=True)


if __name__ == "__main__":
    main()
