"""Each service's contact standard (``contact_standards.json``): how many unanswered
contact attempts, at how many different parts of the day (London time) and over how many
London days, a provider must have made before it closes a route as ``not_contactable``.

VAL's standard is the commissioner's ("3 contact attempts at different times of day",
reference seed 000, line 19); the others are the hub's proposal, each with its reasons in
the file. The provider adapters enforce them; the report counts what came of them.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import time
from functools import cache
from pathlib import Path
from typing import Any

from schemas.codes import Service

STANDARDS = Path(__file__).with_name("contact_standards.json")

NOT_CONTACTABLE = "not_contactable"
"""The outcome reason (with status ``failed``) the standard guards."""


@dataclass(frozen=True)
class PartOfDay:
    name: str
    start: time
    end: time | None
    """Exclusive; None: midnight at the end of the day."""

    def holds(self, moment: time) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class ContactStandard:
    service: Service
    attempts: int
    """Unanswered attempts needed (no answer, wrong number, unsafe to talk)."""
    parts_of_day: int
    """Different parts of the day those attempts must cover, in London time."""
    days: int
    """Different London days they must be spread over."""
    source: str


def _clock(text: str) -> time | None:
    return None if text == "24:00" else time.fromisoformat(text)


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(STANDARDS.read_text())
    return data


@cache
def parts_of_day() -> tuple[PartOfDay, ...]:
    """The parts of the day, in order, covering the whole day without overlap."""
    found = []
    for name, span in _data()["parts_of_day"].items():
        start = _clock(span["from"])
        if start is None:
            raise ValueError(f"{STANDARDS}: parts_of_day.{name}.from cannot be 24:00")
        found.append(PartOfDay(name, start, _clock(span["to"])))
    for before, after in itertools.pairwise(found):
        if before.end != after.start:
            raise ValueError(
                f"{STANDARDS}: parts_of_day {before.name} and {after.name} leave a gap"
            )
    if found[0].start != time(0) or found[-1].end is not None:
        raise ValueError(f"{STANDARDS}: parts_of_day must run from 00:00 to 24:00")
    return tuple(found)


def part_of_day(moment: time) -> str:
    """The name of the part of the day ``moment`` (a London wall-clock time) falls in."""
    for part in parts_of_day():
        if part.holds(moment):
            return part.name
    raise AssertionError("parts_of_day cover the whole day")  # checked by parts_of_day()


@cache
def standard(service: Service) -> ContactStandard:
    """``service``'s contact standard; a missing or impossible one is named."""
    entry = _data()["services"].get(service.value)
    if entry is None:
        raise ValueError(f"{STANDARDS}: no contact standard for {service.value}")
    attempts, parts, days = entry["attempts"], entry["parts_of_day"], entry["days"]
    for name, value in (("attempts", attempts), ("parts_of_day", parts), ("days", days)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{STANDARDS}: services.{service.value}.{name} must be 1 or more")
    if parts > min(attempts, len(parts_of_day())) or days > attempts:
        raise ValueError(
            f"{STANDARDS}: services.{service.value} asks for more parts of the day or days "
            "than its attempts can cover"
        )
    return ContactStandard(service, attempts, parts, days, str(entry.get("source", "")))
