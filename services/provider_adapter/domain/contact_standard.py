"""Whether a route's contact attempts meet its service's contact standard
(``schemas/contact_standards.json``), and what is still missing, in words a caseworker can
act on. Parts of the day and days are judged on London's clock, whatever offset the
provider sent the attempt's time with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import contact_standards
from schemas.calendar import LONDON, england_day
from schemas.codes import ContactResult
from schemas.contact_standards import ContactStandard
from schemas.refusals import Refused

UNANSWERED = frozenset({ContactResult.NO_ANSWER, ContactResult.WRONG_NUMBER, ContactResult.UNSAFE})
"""Attempts that did not reach the person (or could not go on safely): these count."""


@dataclass(frozen=True)
class Progress:
    """A route's contact attempts measured against its standard."""

    standard: ContactStandard
    attempts: int
    """Unanswered attempts so far."""
    parts_of_day: tuple[str, ...]
    """The parts of the day they covered, in the day's order."""
    days: int
    """The different London days they were made on."""
    reached: bool
    """Some attempt reached the person: not_contactable does not apply."""

    @property
    def attempts_to_go(self) -> int:
        return max(0, self.standard.attempts - self.attempts)

    @property
    def parts_of_day_to_go(self) -> tuple[str, ...]:
        """Parts of the day not yet tried, if more are needed (all of them are named)."""
        if len(self.parts_of_day) >= self.standard.parts_of_day:
            return ()
        return tuple(
            p.name for p in contact_standards.parts_of_day() if p.name not in self.parts_of_day
        )

    @property
    def days_to_go(self) -> int:
        return max(0, self.standard.days - self.days)

    @property
    def met(self) -> bool:
        return (
            not self.reached
            and self.attempts_to_go == 0
            and not self.parts_of_day_to_go
            and self.days_to_go == 0
        )

    def missing(self) -> list[str]:
        """What is still needed, one phrase per requirement not yet met."""
        found = []
        if self.attempts_to_go:
            found.append(_plural(self.attempts_to_go, "more attempt"))
        short = self.standard.parts_of_day - len(self.parts_of_day)
        if short > 0:
            found.append(
                f"{_plural(short, 'attempt')} at another part of the day "
                f"({' or '.join(self.parts_of_day_to_go)}, London time)"
            )
        if self.days_to_go:
            found.append(f"{_plural(self.days_to_go, 'attempt')} on another day")
        return found

    def describe(self) -> str:
        """The standard and where the route stands, as one paragraph."""
        s = self.standard
        wanted = (
            f"The {s.service.value} contact standard is {_plural(s.attempts, 'unanswered attempt')}"
            f" at {_plural(s.parts_of_day, 'different part')} of the day"
            f" over {_plural(s.days, 'day')}"
        )
        parts = f" ({', '.join(self.parts_of_day)})" if self.parts_of_day else ""
        so_far = (
            f"so far {_plural(self.attempts, 'unanswered attempt')}{parts}"
            f" on {_plural(self.days, 'day')}"
        )
        return f"{wanted}; {so_far}."

    def as_dict(self) -> dict[str, Any]:
        """The shape the work item carries (``contact_standard``)."""
        s = self.standard
        return {
            "required": {"attempts": s.attempts, "parts_of_day": s.parts_of_day, "days": s.days},
            "made": {
                "attempts": self.attempts,
                "parts_of_day": list(self.parts_of_day),
                "days": self.days,
            },
            "remaining": {
                "attempts": self.attempts_to_go,
                "parts_of_day": max(0, s.parts_of_day - len(self.parts_of_day)),
                "parts_of_day_not_tried": list(self.parts_of_day_to_go),
                "days": self.days_to_go,
            },
            "reached": self.reached,
            "met": self.met,
            "missing": self.missing(),
            "summary": self.describe(),
        }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def progress(
    standard: ContactStandard, attempts: Iterable[tuple[datetime, ContactResult]]
) -> Progress:
    """``attempts`` (when, result) measured against ``standard``. Times must carry their
    offset; each is read on London's clock (GMT or BST as it was that day)."""
    unanswered = 0
    parts: set[str] = set()
    days = set()
    reached = False
    for at, result in attempts:
        if result is ContactResult.CONTACTED:
            reached = True
            continue
        if result not in UNANSWERED:
            continue
        local = at.astimezone(LONDON)
        unanswered += 1
        parts.add(contact_standards.part_of_day(local.time()))
        days.add(england_day(at))
    order = [p.name for p in contact_standards.parts_of_day()]
    return Progress(
        standard=standard,
        attempts=unanswered,
        parts_of_day=tuple(p for p in order if p in parts),
        days=len(days),
        reached=reached,
    )


class StandardNotMet(Refused):
    """Closing as not_contactable before the standard is met (409); ``sentence`` says what
    is missing, ``progress`` holds the figures (the problem's ``contact_standard``)."""

    title = "Contact standard not met"

    def __init__(self, measured: Progress) -> None:
        if measured.reached:
            sentence = (
                "The person was reached on an earlier attempt, so this route cannot be closed "
                "as not contactable; record the outcome that applies (for example failed, "
                "disengaged)."
            )
        else:
            sentence = (
                f"{measured.describe()} Before closing as not contactable, make "
                f"{'; '.join(measured.missing())}."
            )
        super().__init__(sentence)
        self.progress = measured

    @property
    def extra(self) -> dict[str, Any]:
        return {"contact_standard": self.progress.as_dict()}
