"""``python -m services.router simulate``: what-if simulation from the command line, for
the commissioning team (``make simulate`` wraps it). Publishes and changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from schemas.calendar import england_today
from services.plumbing import db
from services.plumbing.cli import CommandError
from services.router import handlers
from services.router.adapters.policy_files import load_book
from services.router.domain.policy.book import NoPolicyInForce, PolicyBook, UnknownPolicyVersion
from services.router.domain.policy.validation import PolicyInvalid
from services.router.settings import SimulationSettings

DEFAULT_DAYS = 90


def day(text: str) -> date:
    """A day as YYYY-MM-DD (argparse names this function in its one-line error)."""
    return date.fromisoformat(text)


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
        type=day,
        default=today - timedelta(days=DEFAULT_DAYS),
        help=f"first day of receipt, YYYY-MM-DD (default: {DEFAULT_DAYS} days ago)",
    )
    parser.add_argument(
        "--to",
        dest="last",
        type=day,
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


def _book(settings: SimulationSettings, args: argparse.Namespace) -> PolicyBook:
    """Every version in the policy directory, with the ones asked for checked first, so that
    a mistyped version is a sentence before any database is reached."""
    try:
        book = load_book(settings.policy_dir)
    except PolicyInvalid as exc:
        raise CommandError(
            f"The policy in {settings.policy_dir} does not validate, so nothing can be "
            f"simulated: {'; '.join(str(p) for p in exc.problems)}"
        ) from None
    known = [v.manifest.version for v in book.versions()]
    for asked in (args.candidate, args.baseline):
        if asked and asked not in known:
            raise CommandError(
                f"There is no policy version {asked!r} in {settings.policy_dir}: "
                f"the versions are {', '.join(known)}."
            )
    if args.first > args.last:
        raise CommandError(f"--from ({args.first}) is after --to ({args.last}).")
    return book


async def _run(args: argparse.Namespace, settings: SimulationSettings) -> dict[str, Any]:
    book = _book(settings, args)
    try:
        pool = await db.create_pool(
            settings.database_url, settings.db_schema, application_name="router-simulate"
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise CommandError(
            f"Cannot reach the router's database ({type(exc).__name__}): is the hub running "
            "(make run), or is DATABASE_URL right?"
        ) from None
    try:
        router = handlers.Router(pool=pool, policies=book)
        try:
            return await handlers.simulate_period(
                router,
                candidate=args.candidate,
                baseline=args.baseline,
                first=args.first,
                last=args.last,
            )
        except (UnknownPolicyVersion, NoPolicyInForce) as exc:
            raise CommandError(f"Nothing to compare the candidate with: {exc}.") from None
    finally:
        await pool.close()


LOCAL_STACK = Path(".dev/stack.json")


def _settings() -> SimulationSettings:
    """From the environment, else (``make simulate``) the running local stack's database."""
    if os.environ.get("DATABASE_URL"):
        return SimulationSettings()
    if not LOCAL_STACK.exists():
        raise CommandError(
            "Start the hub first (make run) or set DATABASE_URL: the simulation re-decides "
            "the referrals in the router's database."
        )
    return SimulationSettings(database_url=json.loads(LOCAL_STACK.read_text())["database_url"])


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    report = asyncio.run(_run(args, _settings()))
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
