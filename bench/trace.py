"""A referral's way through the hub, hop by hop, from the spans its processes wrote.

``make bench ARGS="--spans-dir DIR"`` has every service of the end-to-end hub write its
finished spans to ``DIR/<service>.jsonl`` (``services/plumbing/telemetry.py``); then

    python -m bench.trace DIR [--slowest 3]

prints, over every referral's trace, when each kind of span began after the referral's
request arrived (p50 / p95 / p99 / max, ms): where the time goes on the way from intake to
the adapters. Then the slowest referrals' traces span by span: each span's start after
the request, its duration and the gap since the previous span ended (time in no span: in
a queue, an outbox, a broker fetch or waiting for the CPU).

Recording spans costs CPU (one JSON line per span, written as each ends): latencies from a
traced run are higher than an untraced run's; the shape, not the figures, is the point.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def load(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Spans by trace id, each trace's in order of start."""
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                span = json.loads(line)
            except ValueError:
                continue  # a line cut short when the process stopped
            if span.get("trace_id") and span.get("start_ns") and span.get("end_ns"):
                traces[span["trace_id"]].append(span)
    for spans in traces.values():
        spans.sort(key=lambda s: s["start_ns"])
    return traces


def label(span: dict[str, Any]) -> str:
    return f"{span['service']}: {span['name']}"


def referral_traces(traces: dict[str, list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Traces that began with a referral's submission to intake and reached an adapter."""
    found = []
    for spans in traces.values():
        first = spans[0]
        if first["service"] != "referral_intake" or first["kind"] != "SERVER":
            continue
        if "POST" not in first["name"]:
            continue
        if any(str(s["service"]).startswith("provider_adapter") for s in spans):
            found.append(spans)
    return found


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(ns: int) -> float:
    return round(ns / 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--slowest", type=int, default=3)
    args = parser.parse_args()
    traces = referral_traces(load(args.directory))
    if not traces:
        raise SystemExit(f"no referral traces in {args.directory}")

    def total(spans: list[dict[str, Any]]) -> int:
        end = max(s["end_ns"] for s in spans if str(s["service"]).startswith("provider_adapter"))
        return int(end - spans[0]["start_ns"])

    starts: dict[str, list[float]] = defaultdict(list)
    for spans in traces:
        t0 = spans[0]["start_ns"]
        seen = set()
        for span in spans:
            if label(span) in seen:
                continue  # the first of each kind: a referral's second route is later
            seen.add(label(span))
            starts[label(span)].append(_ms(span["start_ns"] - t0))
    totals = [_ms(total(s)) for s in traces]
    print(
        f"{len(traces)} referral traces; request to last adapter span ended, ms: "
        f"p50 {_quantile(totals, 0.5)}  p95 {_quantile(totals, 0.95)}  "
        f"p99 {_quantile(totals, 0.99)}  max {max(totals)}"
    )
    print("\nFirst span of each kind, ms after the request arrived (p50 / p95 / p99 / max, n):")
    for name, values in sorted(starts.items(), key=lambda kv: _quantile(kv[1], 0.5)):
        print(
            f"  {_quantile(values, 0.5):>8} {_quantile(values, 0.95):>8} "
            f"{_quantile(values, 0.99):>8} {max(values):>8}  {len(values):>5}  {name}"
        )
    for spans in sorted(traces, key=total, reverse=True)[: args.slowest]:
        t0 = spans[0]["start_ns"]
        referral = next(
            (
                s["attributes"].get("hub.referral_id")
                for s in spans
                if s["attributes"].get("hub.referral_id")
            ),
            "?",
        )
        print(f"\nTrace {spans[0]['trace_id']} (referral {referral}), {_ms(total(spans))} ms:")
        print(f"  {'start':>8} {'took':>7} {'gap':>7}  span")
        ended = t0
        for span in spans:
            gap = span["start_ns"] - ended
            print(
                f"  {_ms(span['start_ns'] - t0):>8} {_ms(span['end_ns'] - span['start_ns']):>7} "
                f"{_ms(max(gap, 0)):>7}  {label(span)}"
            )
            ended = max(ended, span["end_ns"])


if __name__ == "__main__":
    main()
