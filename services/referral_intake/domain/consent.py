"""Consent given, refused or withdrawn after routing: when a change may be recorded, what the
referral's coded consent becomes, and what the router is asked to do. A refusal or withdrawal
stops disclosure at once; the router then cancels the routes that needed consent, and keeps
those the policy sends without it (a high-risk MARAC referral, a child's exploitation
screen). Pure: the handler loads the referral, asks these, and saves."""

from __future__ import annotations

from typing import Literal

from schemas.codes import ConsentStatus, Trigger

ConsentChange = Literal["given", "refused", "withdrawn"]

_TRIGGERS: dict[ConsentChange, Trigger] = {
    "given": Trigger.CONSENT_GIVEN,
    "refused": Trigger.CONSENT_REFUSED,
    "withdrawn": Trigger.CONSENT_WITHDRAWN,
}
WITHDRAWABLE = frozenset({ConsentStatus.GIVEN.value, ConsentStatus.NOT_ASKED.value})
"""Consent on record that a withdrawal can end: given, or not yet asked."""


def refusal(change: ConsentChange, *, on_record: str | None, routed: bool) -> str | None:
    """Why ``change`` cannot be recorded now, as a sentence for the caller; None when it can.
    ``on_record`` is the referral's consent status; ``routed``, whether the router's first
    decision has arrived (until then there is nothing to re-assess)."""
    if not routed:
        return "The referral is still being routed; record the consent again in a moment."
    if change == "withdrawn" and on_record not in WITHDRAWABLE:
        return "Consent can only be withdrawn after it was given (or not yet asked)."
    if change == on_record:
        return f"Consent is already recorded as {change}."
    return None


def consent_fact(change: ConsentChange) -> ConsentStatus:
    """The ``consent`` fact the router reads after ``change``: a withdrawal counts as a
    refusal from now on."""
    return ConsentStatus.GIVEN if change == "given" else ConsentStatus.REFUSED


def trigger(change: ConsentChange) -> Trigger:
    """The re-assessment ``change`` asks for; also the name of its timeline entry."""
    return _TRIGGERS[change]
