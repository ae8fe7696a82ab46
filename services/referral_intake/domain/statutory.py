"""Statutory referrals: the flags a decision raises that ask staff to tell a statutory body
(routing-policy.md, version 2), and what a supervisor records when it was done.

A flag is ``outstanding`` from the decision that raised it until a supervisor records the
referral as ``made`` (when, and the other agency's case reference); a later full assessment
that no longer raises a flag nobody acted on ``withdraws`` it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from schemas.codes import STATUTORY_FLAGS

StatutoryStatus = Literal["outstanding", "made", "withdrawn"]

CASE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._-]{2,39}")
"""The other agency's case reference (a MASH or children's social care number, an NRM or MS1
reference, a MARAC case number): 3 to 40 letters, digits and ``/ . - _``, with at least one
digit. No spaces, so no sentence and no name: the reference is shown to staff and kept in the
timeline, and must never be a place for personal data."""

CASE_REFERENCE_SCHEMA = {"pattern": f"^{CASE_REFERENCE.pattern}$", "allOf": [{"pattern": "[0-9]"}]}
"""``reference_problem``'s rule as JSON Schema, for the published request schema."""

FUTURE_SLACK = timedelta(minutes=5)
"""Clocks disagree a little; a referral made later than that from now has not been made."""


def statutory(flags: list[str] | tuple[str, ...]) -> list[str]:
    """The flags among ``flags`` that ask staff to make a statutory referral, in order."""
    return [f for f in flags if f in STATUTORY_FLAGS]


def reference_problem(reference: str) -> str | None:
    """Why ``reference`` is not a case reference, or None."""
    if CASE_REFERENCE.fullmatch(reference) and any(c.isdigit() for c in reference):
        return None
    return (
        "must be the other agency's case reference: 3 to 40 letters, digits and / . - _, "
        "with at least one digit (no spaces, names or notes)"
    )


def made_at_problem(made_at: datetime, now: datetime) -> str | None:
    if made_at > now + FUTURE_SLACK:
        return "is in the future: record a referral once it has been made"
    return None


def status_of(made_at: datetime | None, withdrawn_at: datetime | None) -> StatutoryStatus:
    if made_at is not None:
        return "made"
    return "withdrawn" if withdrawn_at is not None else "outstanding"
