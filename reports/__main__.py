"""``make report PERIOD=2026-27Q3`` (or ``FROM=… TO=…``, ``AREA=…``, ``FORMAT=html|pdf|csv|json``,
``EDITION=internal|published``): the performance report from the running local stack (URL
and commissioner token from ``.dev/stack.json``), written to one file. Intake makes every
format (``GET /v1/reports/performance``), so the file is what the API serves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from services.plumbing import cli
from services.plumbing.cli import CommandError

STACK = Path(".dev/stack.json")
OUT = Path(".dev/reports")
MEDIA = {
    "json": "application/json",
    "csv": "text/csv",
    "html": "text/html",
    "pdf": "application/pdf",
}


def fetch(
    intake_url: str, token: str, params: dict[str, str], *, media: str, timeout: float = 120
) -> httpx.Response:
    """The report in ``media``; a refusal is explained and ends the command."""
    try:
        response = httpx.get(
            f"{intake_url.rstrip('/')}/v1/reports/performance",
            params=params,
            headers={"Authorization": f"Bearer {token}", "Accept": media},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise CommandError(
            f"Cannot reach intake at {intake_url} ({type(exc).__name__}): is the hub running "
            "(make run)?"
        ) from None
    if response.status_code != 200:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:300]}
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", []))
        raise CommandError(
            f"The hub answered {response.status_code}: {problem.get('detail', '')} {fields}".strip()
        )
    return response


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--period", help="2026-27 or 2026-27Q3 (financial year, Q1 = April-June)")
    parser.add_argument("--from", dest="from_", help="first day, YYYY-MM-DD")
    parser.add_argument("--to", help="last day, YYYY-MM-DD")
    parser.add_argument("--local-authority", help="one local authority's referrals only")
    parser.add_argument("--format", choices=sorted(MEDIA), default="html")
    parser.add_argument("--edition", choices=("internal", "published"), default="internal")
    parser.add_argument("--stack", type=Path, default=STACK, help="the running stack's file")
    parser.add_argument("--out", type=Path, help="where to write the file")
    args = parser.parse_args(argv)
    if not args.stack.exists():
        raise CommandError(f"{args.stack} not found: start the hub with `make run` first.")
    stack = json.loads(args.stack.read_text())
    params = {
        key: value
        for key, value in (
            ("period", args.period),
            ("from", args.from_),
            ("to", args.to),
            ("local_authority", args.local_authority),
            ("edition", args.edition),
        )
        if value
    }
    token = stack["staff_tokens"]["commissioner"]
    summary = fetch(stack["intake_url"], token, params, media=MEDIA["json"]).json()
    label = summary["period"] or f"{summary['from']}_{summary['to']}"
    if summary.get("local_authority"):
        label += f"-{summary['local_authority']}"
    out: Path = args.out or OUT / f"performance-{label}-{args.edition}.{args.format}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "json":
        out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    else:
        out.write_bytes(fetch(stack["intake_url"], token, params, media=MEDIA[args.format]).content)
    suppressed = len(summary.get("suppressed", []))
    print(
        f"{out} ({summary['totals']['referrals']} referrals to services, {summary['from']} to "
        f"{summary['to']}, {args.edition} edition"
        + (f", {suppressed} figures suppressed" if args.edition == "published" else "")
        + ")"
    )


if __name__ == "__main__":
    cli.run(lambda: main(sys.argv[1:]))
