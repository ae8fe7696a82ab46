"""Webhook delivery rules any sender follows: the retry schedule, when to give up, and what
each answer of the receiver means (the Standard Webhooks specification's sender guidance,
"Delivery success and failure": https://github.com/standard-webhooks/standard-webhooks,
spec/standard-webhooks.md). Pure: no I/O. Used by every service that pushes webhooks
(``services/plumbing/webhooks.py``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from url_normalize import url_normalize


@dataclass(frozen=True)
class RetryPolicy:
    first_retry_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    give_up_after: timedelta = timedelta(hours=24)

    max_retry_after_seconds: float = 3600.0

    def next_attempt(
        self,
        attempts_so_far: int,
        now: datetime,
        rng: random.Random | None = None,
        *,
        retry_after: timedelta | None = None,
    ) -> datetime:
        """Exponential backoff from ``first_retry_seconds``, doubling, capped, with ±20%
        jitter so that many failed deliveries do not all retry at the same instant; never
        sooner than the receiver's ``Retry-After`` (at most ``max_retry_after_seconds``)."""
        delay = min(
            self.first_retry_seconds * 2 ** max(attempts_so_far - 1, 0), self.max_backoff_seconds
        )
        jitter = (rng or random.Random()).uniform(0.8, 1.2)  # noqa: S311 - spreading, not secrecy
        backoff = timedelta(seconds=min(delay * jitter, self.max_backoff_seconds))
        if retry_after is not None:
            asked = min(retry_after, timedelta(seconds=self.max_retry_after_seconds))
            backoff = max(backoff, asked)
        return now + backoff

    def gives_up(self, first_attempt_at: datetime, now: datetime) -> bool:
        return now - first_attempt_at >= self.give_up_after


class Verdict(StrEnum):
    """What an answer means for the webhook (Standard Webhooks, "Delivery success and
    failure")."""

    DELIVERED = "delivered"
    """2xx."""
    FAILED = "failed"
    """Any other answer, a timeout or a dropped connection: retried with backoff."""
    THROTTLE = "throttle"
    """429, 502, 503, 504: the receiver is rate-limiting or under load. Retried, and
    nothing more is sent to it until then (its ``Retry-After`` when it gives one)."""
    GONE = "gone"
    """410: the receiver wants no more webhooks. The endpoint is disabled; nothing more is
    sent until its provider registers it again."""


THROTTLING = frozenset({429, 502, 503, 504})


def verdict(status_code: int | None) -> Verdict:
    """The verdict on one attempt; ``None`` is no answer at all (timeout, reset)."""
    if succeeded(status_code):
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.GONE
    if status_code in THROTTLING:
        return Verdict.THROTTLE
    return Verdict.FAILED


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (RFC 9110 10.2.3: delay-seconds or an HTTP-date) as a delay
    from ``now``; None when absent or not either form (then the backoff alone decides)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=min(int(text[:9]), 10**8))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


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


def message(kind: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A Standard Webhooks payload ("Payload structure"): ``type``, ``timestamp`` (ISO 8601)
    and ``data``."""
    return {"type": kind, "timestamp": at.isoformat(), "data": data}


def canonical_url(url: str) -> str:
    """The one spelling of a webhook URL that is stored, compared and called: RFC 3986
    section 6 normalisation by ``url-normalize`` (scheme and host in lower case, the
    scheme's default port dropped, percent-encodings of unreserved characters decoded and
    the others in upper case, dot segments removed, an empty query and a host's trailing
    dot dropped, an international host as IDNA), and no fragment (a client never sends it:
    ``/hook#a`` is the receiver ``/hook`` is). So ``HTTPS://Example.org:443/%7Ehook`` and
    ``https://example.org/~hook`` are one receiver: registering the second is a rotation
    of the first's secret, not a new URL. ``url`` is absolute (the API's ``AnyUrl`` checked
    it); query parameters keep their order (a receiver may read them in order)."""
    normalised = url_normalize(url) or url
    return urlunsplit(urlsplit(normalised)._replace(fragment=""))
