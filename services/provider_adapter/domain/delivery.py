"""What the adapter's webhook says about a work item: stable ids and the payload. The rules
every webhook sender follows (retries, what an answer means) are shared:
``services/plumbing/webhook_rules.py``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

KINDS = ("created", "cancelled", "reminder", "contact_changed")
SEQUENCED = frozenset({"reminder", "contact_changed"})
"""Kinds a work item can be sent more than once: each one's ``webhook-id`` has a number."""
SUPERSEDING = frozenset({"contact_changed"})
"""Kinds whose newest push says all that earlier ones not yet delivered said (a change of
contact details carries every field its provider has not read since), so it replaces them."""


def webhook_id(route_id: uuid.UUID, kind: str, sequence: int = 1) -> str:
    """The ``webhook-id``: the same for every retry of one message."""
    suffix = f"_{sequence}" if kind in SEQUENCED else ""
    return f"msg_{route_id.hex}_{kind}{suffix}"


def payload(kind: str, item: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A Standard Webhooks payload: type, timestamp and the work item (never contact details)."""
    return {"type": f"work_item.{kind}", "timestamp": at.isoformat(), "data": item}
