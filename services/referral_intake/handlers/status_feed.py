"""The referrer's feed (issue 19, "the loop closed to the referrer"): each status change of
the referrals a caller submitted (received, routed, each route requested, accepted,
rejected and re-routed, contacted, its outcome, a missed clock), in the order intake
recorded them, as coded facts only, with a signed cursor to carry on from.

Only facts that are codes leave: the event, the route's status and service, reasons and
clocks as codes; never a note, a name (the timeline's ``by``), a case reference or a
contact attempt's details."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.plumbing.cursors import Cursors, InvalidCursor
from services.plumbing.db import Connection
from services.referral_intake.adapters import timeline as timeline_store

CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CODED_DETAIL = ("service", "reason", "rejection_reason", "clock", "trigger", "decision_status")
CODED_LISTS = ("services", "cancelled_services", "held_services", "flags")


def _coded(detail: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for key in CODED_DETAIL:
        value = detail.get(key)
        if isinstance(value, str) and CODE.fullmatch(value.lower()):
            facts[key] = value
    for key in CODED_LISTS:
        values = detail.get(key)
        if isinstance(values, list):
            facts[key] = [v for v in values if isinstance(v, str) and CODE.fullmatch(v.lower())]
    outcome = detail.get("outcome")
    if isinstance(outcome, dict) and isinstance(outcome.get("status"), str):
        facts["outcome"] = outcome["status"]
    return facts


def change_item(change: timeline_store.StatusChange) -> dict[str, Any]:
    return {
        "referral_id": str(change.referral_id),
        "route_id": str(change.route_id) if change.route_id else None,
        "event": change.event,
        "status": change.status,
        "at": change.at.isoformat(),
        **_coded(change.detail),
    }


def read_position(cursors: Cursors, cursor: str | None) -> int:
    """The timeline id a cursor stands after (0: the beginning); ``InvalidCursor`` for one
    this API did not give out."""
    if cursor is None:
        return 0
    position = cursors.read(cursor)
    if len(position) != 1 or not isinstance(position[0], int) or isinstance(position[0], bool):
        raise InvalidCursor("not a feed cursor")
    return int(position[0])


async def status_changes(
    pool: asyncpg.Pool,
    cursors: Cursors,
    *,
    submitted_by: str,
    cursor: str | None,
    limit: int,
    settle: timedelta,
) -> dict[str, Any]:
    """``{"items": [...], "next_cursor": "..."}``: the next changes after ``cursor``; the
    cursor to ask with next time is always given (the same position when nothing is new).
    A change shows once ``settle`` has passed since it was recorded. Raises
    ``InvalidCursor``."""
    after = read_position(cursors, cursor)
    async with pool.acquire() as conn:
        changes = await settled_changes(
            conn, submitted_by=submitted_by, after_id=after, settle=settle, limit=limit
        )
    last = changes[-1][0] if changes else after
    return {"items": [item for _, item in changes], "next_cursor": cursors.issue([last])}


async def settled_changes(
    conn: Connection,
    *,
    submitted_by: str,
    after_id: int,
    settle: timedelta,
    limit: int,
) -> list[tuple[int, dict[str, Any]]]:
    """``(timeline id, item)`` for the next changes after ``after_id`` the feed would show
    ``submitted_by`` now, oldest first (what the referrer's webhook pushes)."""
    rows = await timeline_store.changes_for_submitter(
        conn,
        submitted_by=submitted_by,
        after_id=after_id,
        settled_before=datetime.now(UTC) - settle,
        limit=limit,
    )
    return [(r.id, change_item(r)) for r in rows]
