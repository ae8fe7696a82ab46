"""A person's contact details changed after the work reached this provider (issue 26).

Until the provider has read the new details, the work item carries a marker, and a contact
attempt made after the change on a channel the change concerns is refused: the phone
number the caseworker has may be the one the abuser now holds. Which channels a field
concerns is ``schemas.codes.CHANNELS_OF_FIELD`` (a new phone: phone and SMS; new
safe-contact instructions or a new preferred channel: every channel). An attempt made
before the minute of the change (recorded late) is history and is taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.codes import CHANNELS_OF_FIELD, ContactChannel, ContactField


def stale_channels(fields: Iterable[str]) -> frozenset[ContactChannel]:
    """The channels on which the details the provider holds are out of date, for changed
    ``fields`` (``ContactField`` values; unknown names concern no channel)."""
    found: set[ContactChannel] = set()
    for name in fields:
        if name in ContactField.__members__.values():
            found |= CHANNELS_OF_FIELD.get(ContactField(name), frozenset())
    return frozenset(found)


def refusal(
    changed_at: datetime | None,
    fields: Iterable[str],
    *,
    attempt_at: datetime,
    channel: ContactChannel,
) -> str | None:
    """Why a contact attempt cannot be recorded (a sentence for the provider), or ``None``
    when it can. ``changed_at`` is the unread change's time (``None``: the provider has
    read the details since the last change)."""
    # Attempts are often recorded to the minute (the portal's form): one in the minute of
    # the change may have come after it, so it counts as after.
    if changed_at is None or attempt_at < changed_at.replace(second=0, microsecond=0):
        return None
    changed = list(fields)
    if channel not in stale_channels(changed):
        return None
    return (
        "The person's contact details changed at "
        f"{changed_at.isoformat(timespec='minutes')} ({', '.join(changed)}), after you last "
        f"read them: an attempt by {channel.value.replace('_', ' ')} may have used the old "
        "details. Read the work item again (its contact details) before you contact the "
        "person; nothing was recorded."
    )


def marker(changed_at: datetime | None, fields: Iterable[str]) -> dict[str, object] | None:
    """What a work item shows while its provider has not read the new details: when they
    changed and which fields (names only)."""
    if changed_at is None:
        return None
    return {"at": changed_at.isoformat(), "fields": list(fields)}
