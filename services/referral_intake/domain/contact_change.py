"""Changing a person's contact details after submission (UK GDPR Article 16, rectification;
and safe contact: a phone the abuser now holds must stop being called at once).

A change names any subset of the contact fields (``contact.*`` of the submission). It is
validated exactly as a submission's ``contact`` is: the change is applied to the details on
record and the result must pass the submission's own model (``referral.Contact``) and its
rules across fields (a means of contact, unless a self-referral says how to reach them; a
contact who is someone else needs the name of the person referred). ``null`` removes an
optional field (JSON Merge Patch, RFC 7396); ``safe_to_contact`` and ``relationship`` always
have a value. Errors name the fields and never repeat a value.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas.codes import ContactField, ContactRelationship, Source
from services.referral_intake.domain.referral import Contact


class InvalidChange(Exception):
    """The change cannot apply; ``errors`` name the fields (``[{"field", "message"}]``)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("invalid contact change")
        self.errors = errors


def apply_change(
    current: dict[str, Any] | None,
    change: dict[str, Any],
    *,
    source: Source,
    subject_named: bool,
) -> tuple[dict[str, Any], list[ContactField]]:
    """The contact details after ``change`` (the fields it names, ``None`` removing one), as
    the vault keeps them, and the fields whose value changed, in ``ContactField`` order.

    ``current`` is the details on record (``None`` for a self-referral that gave none);
    ``source`` and ``subject_named`` (the referral names the person referred) are what the
    submission's rules across fields need. Raises ``InvalidChange``."""
    if not change:
        raise InvalidChange(
            [{"field": "(body)", "message": "name at least one contact field to change"}]
        )
    before = _as_recorded(current or {})
    try:
        after = Contact.model_validate({**before, **change})
    except ValidationError as exc:
        raise InvalidChange(
            [
                {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
                for e in exc.errors()
            ]
        ) from None
    problems = _across_fields(after, source=source, subject_named=subject_named)
    if problems:
        raise InvalidChange(problems)
    recorded = after.model_dump(mode="json")
    changed = [f for f in ContactField if recorded.get(f.value) != before.get(f.value)]
    return recorded, changed


def _as_recorded(contact: dict[str, Any]) -> dict[str, Any]:
    """The details on record in the submission's shape (defaults filled in), so that a field
    the change repeats unchanged is not counted as changed."""
    known = {k: v for k, v in contact.items() if k in Contact.model_fields}
    try:
        return Contact.model_validate(known).model_dump(mode="json")
    except ValidationError:
        # Details recorded under older rules: compare with them as they are.
        return {name: known.get(name) for name in Contact.model_fields}


def _across_fields(
    contact: Contact, *, source: Source, subject_named: bool
) -> list[dict[str, str]]:
    """The submission's rules that span fields (``ReferralRequest._reachable`` and
    ``_subject_named``), for the contact alone."""
    problems = []
    self_referral_with_channel = (
        source is Source.SELF_REFERRAL and contact.preferred_channel is not None
    )
    if not contact.has_means_of_contact() and not self_referral_with_channel:
        problems.append(
            {
                "field": "phone",
                "message": "the contact needs a phone, email or address (removing the last "
                "one leaves no way to reach the person)",
            }
        )
    if contact.relationship is not ContactRelationship.SELF and not subject_named:
        problems.append(
            {
                "field": "relationship",
                "message": "can be other than self only when the referral names the person "
                "referred (subject.name)",
            }
        )
    return problems
