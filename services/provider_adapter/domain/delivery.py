"""Webhook delivery rules: stable ids, the retry schedule, and when to give up."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

KINDS = ("created", "cancelled", "reminder", "contact_changed")
SEQUENCED = frozenset({"reminder", "contact_changed"})
"""Kinds a work item can be sent more than once: each one's ``webhook-id`` has a number."""


@dataclass(frozen=True)
class RetryPolicy:
    first_retry_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    give_up_after: timedelta = timedelta(hours=24)

    def next_attempt(
        self, attempts_so_far: int, now: datetime, rng: random.Random | None = None
    ) -> datetime:
        """Exponential backoff from ``first_retry_seconds``, doubling, capped, with ±20%
        jitter so that many failed deliveries do not all retry at the same instant."""
        delay = min(
            self.first_retry_seconds * 2 ** max(attempts_so_far - 1, 0), self.max_backoff_seconds
        )
        jitter = (rng or random.Random()).uniform(0.8, 1.2)  # noqa: S311 - spreading, not secrecy
        return now + timedelta(seconds=min(delay * jitter, self.max_backoff_seconds))

    def gives_up(self, first_attempt_at: datetime, now: datetime) -> bool:
        return now - first_attempt_at >= self.give_up_after


def webhook_id(route_id: uuid.UUID, kind: str, sequence: int = 1) -> str:
    """The ``webhook-id``: the same for every retry of one message."""
    suffix = f"_{sequence}" if kind in SEQUENCED else ""
    return f"msg_{route_id.hex}_{kind}{suffix}"


def payload(kind: str, item: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A Standard Webhooks payload: type, timestamp and the work item (never contact details)."""
    return {"type": f"work_item.{kind}", "timestamp": at.isoformat(), "data": item}


def succeeded(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def failure(status_code: int) -> str | None:
    """What went wrong with an answer, for the delivery's record; None for a 2xx. A redirect
    is never followed (its target was not vetted): it is a failed attempt like any other."""
    if succeeded(status_code):
        return None
    if 300 <= status_code < 400:
        return f"HTTP {status_code} (redirects are not followed)"
    return f"HTTP {status_code}"
