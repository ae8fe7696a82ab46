"""``make report PERIOD=2026-27Q3`` (or ``FROM=… TO=…``): the performance report from the
running local stack (URL and commissioner token from ``.dev/stack.json``), written as one
self-contained HTML file."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from reports.html import render

STACK = Path(".dev/stack.json")
OUT = Path(".dev/reports")


def fetch(
    intake_url: str, token: str, params: dict[str, str], *, timeout: float = 60
) -> dict[str, Any]:
    """The report as JSON; a refusal is explained and ends the command."""
    response = httpx.get(
        f"{intake_url.rstrip('/')}/v1/reports/performance",
        params=params,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=timeout,
    )
    if response.status_code != 200:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:300]}
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", []))
        raise SystemExit(
            f"The hub answered {response.status_code}: {problem.get('detail', '')} {fields}".strip()
        )
    report: dict[str, Any] = response.json()
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--period", help="2026-27 or 2026-27Q3 (financial year, Q1 = April-June)")
    parser.add_argument("--from", dest="from_", help="first day, YYYY-MM-DD")
    parser.add_argument("--to", help="last day, YYYY-MM-DD")
    parser.add_argument("--local-authority", help="one local authority's referrals only")
    parser.add_argument("--stack", type=Path, default=STACK, help="the running stack's file")
    parser.add_argument("--out", type=Path, help="where to write the HTML file")
    args = parser.parse_args(argv)
    if not args.stack.exists():
        raise SystemExit(f"{args.stack} not found: start the hub with `make run` first.")
    stack = json.loads(args.stack.read_text())
    params = {
        key: value
        for key, value in (
            ("period", args.period),
            ("from", args.from_),
            ("to", args.to),
            ("local_authority", args.local_authority),
        )
        if value
    }
    report = fetch(stack["intake_url"], stack["staff_tokens"]["commissioner"], params)
    label = report["period"] or f"{report['from']}_{report['to']}"
    if report.get("local_authority"):
        label += f"-{report['local_authority']}"
    out: Path = args.out or OUT / f"performance-{label}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report, generated_at=datetime.now(UTC)), encoding="utf-8")
    print(
        f"{out} ({report['totals']['referrals']} referrals to services, {report['from']} to "
        f"{report['to']})"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
