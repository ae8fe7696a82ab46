"""One calendar for the whole hub: the day in England.

Instants are stored and sent in UTC; a *day* (a date of report for an age, the day a referral
was received, a report's period, a working-day clock, a retention or simulation range) is
always the day it was in England (``Europe/London``, GMT in winter and BST in summer), never
the day in whatever offset a sender wrote the instant in, and never the UTC day. Every place
in the hub that needs a day from an instant, or an instant from a day, calls this module.

Why one module: ``2026-07-14T23:30:00Z`` and ``2026-07-15T00:30:00+01:00`` are the same
instant, and in England it is 15 July; ``.date()`` on the first gives 14 July. A person born
on 15 July 2008 is 18 on that instant (issue 14, case 4).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
"""England's (and Wales's) civil time zone, from the IANA database (``tzdata``)."""


def england_day(instant: datetime) -> date:
    """The calendar day in England at ``instant``.

    ``instant`` must be timezone-aware (raises ``ValueError`` otherwise): a naive timestamp
    names no instant, and guessing its offset is the mistake this module exists to stop."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("a naive datetime names no instant; give it a time zone")
    return instant.astimezone(LONDON).date()


def england_today() -> date:
    """Today in England."""
    return england_day(datetime.now(UTC))


def day_start(day: date) -> datetime:
    """The first instant of ``day`` in England (London midnight), in UTC. London midnight
    always exists: the clocks change at 01:00 UTC, never at midnight."""
    return datetime.combine(day, time(), LONDON).astimezone(UTC)


def days_between(first: date, last: date) -> tuple[datetime, datetime]:
    """The instants of the days ``first`` to ``last`` (both inclusive) in England, as a
    half-open UTC range ``[start, end)``."""
    return day_start(first), day_start(last + timedelta(days=1))
