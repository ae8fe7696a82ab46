"""``python -m services.router simulate``: what-if simulation from the command line, for
the commissioning team (``make simulate`` wraps it). Publishes and changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import date, timedelta
from typing import Any

from schemas.calendar import england_today
from services.plumbing import db
from services.router import handlers
from services.router.adapters.policy_files import load_book
from services.router.settings import SimulationSettings

DEFAULT_DAYS = 90


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.router simulate", description=__doc__)
    parser.add_argument(
        "--candidate", required=True, help="the candidate policy version, e.g. 2027-04-01.1"
    )
    parser.add_argument(
        "--baseline",
        help="compare with this version (default: the one in force today, or, when that is "
        "the candidate itself, the one it took over from)",
    )
    today = england_today()
    parser.add_argument(
        "--from",
        dest="first",
        type=date.fromisoformat,
        default=today - timedelta(days=DEFAULT_DAYS),
        help=f"first day of receipt, YYYY-MM-DD (default: {DEFAULT_DAYS} days ago)",
    )
    parser.add_argument(
        "--to",
        dest="last",
        type=date.fromisoformat,
        default=today,
        help="last day of receipt, YYYY-MM-DD (default: today)",
    )
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    return parser


def render(report: dict[str, Any]) -> str:
    lines = [
        f"Simulation of {report['candidate_version']} against {report['baseline_version']}",
        f"Referrals received {report['from']} to {report['to']}: {report['referrals']}",
        "",
        f"{'service':<8} {'routes before':>14} {'after':>7} {'change':>7}   "
        f"{'held before':>11} {'after':>6}",
    ]
    for service, n in report["services"].items():
        lines.append(
            f"{service:<8} {n['routes_before']:>14} {n['routes_after']:>7} {n['change']:>+7}   "
            f"{n['held_before']:>11} {n['held_after']:>6}"
        )
    lines += [
        "",
        "Decisions changed, by rule (a changed decision counts for every rule that fired under",
        "one version and not the other):",
        f"{'rule':<28} {'fired before':>12} {'after':>7} {'decisions changed':>18}",
    ]
    for rule_id, n in report["rules"].items():
        if n["fired_before"] != n["fired_after"] or n["decisions_changed"]:
            lines.append(
                f"{rule_id:<28} {n['fired_before']:>12} {n['fired_after']:>7} "
                f"{n['decisions_changed']:>18}"
            )
    if report["changed_with_the_same_rules"]:
        lines.append(
            f"{'(same rules, other effect)':<28} {'':>12} {'':>7} "
            f"{report['changed_with_the_same_rules']:>18}"
        )
    lines += ["", f"Referrals whose decision would change: {report['changed_count']}"]
    for change in report["changed"][:50]:
        before, after = change["before"], change["after"]
        lines.append(
            f"  {change['referral_id']}  age {change['facts']['subject']['age']}, "
            f"{'/'.join(change['facts']['incident']['crime_types'])}: "
            f"{before['status']} {before['routes'] or '-'} -> "
            f"{after['status']} {after['routes'] or '-'}{_also_changed(before, after)}"
        )
    if report["changed_count"] > 50:
        lines.append(f"  ... and {report['changed_count'] - 50} more (use --json for all)")
    return "\n".join(lines)


def _also_changed(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Flags raised and dropped, and priorities changed, which the routes do not show."""
    notes = [f"+{f}" for f in after["flags"] if f not in before["flags"]]
    notes += [f"-{f}" for f in before["flags"] if f not in after["flags"]]
    old, new = before.get("priorities", {}), after.get("priorities", {})
    notes += [f"{r} {old[r]}->{p}" for r, p in new.items() if r in old and old[r] != p]
    return f"; {' '.join(notes)}" if notes else ""


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    settings = SimulationSettings()
    pool = await db.create_pool(
        settings.database_url, settings.db_schema, application_name="router-simulate"
    )
    try:
        router = handlers.Router(pool=pool, policies=load_book(settings.policy_dir))
        return await handlers.simulate_period(
            router,
            candidate=args.candidate,
            baseline=args.baseline,
            first=args.first,
            last=args.last,
        )
    finally:
        await pool.close()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    report = asyncio.run(_run(args))
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
