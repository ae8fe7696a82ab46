"""Webhook delivery rules: stable ids, the retry schedule, giving up."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.plumbing.webhook_rules import (
    RetryPolicy,
    Verdict,
    canonical_url,
    retry_after,
    succeeded,
    verdict,
)
from services.provider_adapter.domain.delivery import payload, webhook_id
from services.provider_adapter.domain.keys import (
    KeyRuleBroken,
    check_can_add,
    check_can_retire,
    new_key,
    prefix,
)

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
POLICY = RetryPolicy()


def _delay(attempts: int) -> float:
    return (POLICY.next_attempt(attempts, NOW, random.Random(attempts)) - NOW).total_seconds()


def test_first_retry_comes_within_seconds_and_backoff_doubles_to_five_minutes() -> None:
    assert 1.6 <= _delay(1) <= 2.4
    assert 3.2 <= _delay(2) <= 4.8
    assert 6.4 <= _delay(3) <= 9.6
    assert all(_delay(n) <= 300 for n in range(1, 40))
    assert _delay(30) >= 240  # at the cap, less jitter


def test_gives_up_after_24_hours() -> None:
    assert not POLICY.gives_up(NOW, NOW + timedelta(hours=23, minutes=59))
    assert POLICY.gives_up(NOW, NOW + timedelta(hours=24))


def test_webhook_ids_are_stable_per_message_and_distinct_between_messages() -> None:
    route = uuid.uuid4()
    assert webhook_id(route, "created") == webhook_id(route, "created")
    assert webhook_id(route, "created") != webhook_id(route, "cancelled")
    assert webhook_id(route, "reminder", 1) != webhook_id(route, "reminder", 2)
    assert webhook_id(route, "created").startswith("msg_")


def test_payload_follows_standard_webhooks() -> None:
    body = payload("created", {"referral_id": "x"}, NOW)
    assert body == {
        "type": "work_item.created",
        "timestamp": NOW.isoformat(),
        "data": {"referral_id": "x"},
    }


def test_only_2xx_counts_as_delivered() -> None:
    assert succeeded(200)
    assert succeeded(204)
    assert not succeeded(301)
    assert not succeeded(500)
    assert not succeeded(None)


def test_key_rules() -> None:
    key = new_key("IDVA")
    assert key.startswith("pk_idva_")
    assert len(prefix(key)) < len(key) / 2
    check_can_add(1)
    check_can_retire(2)
    with pytest.raises(KeyRuleBroken, match="retire one"):
        check_can_add(2)
    with pytest.raises(KeyRuleBroken, match="only active key"):
        check_can_retire(1)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (302, Verdict.FAILED),
        (404, Verdict.FAILED),
        (500, Verdict.FAILED),
        (None, Verdict.FAILED),
        (410, Verdict.GONE),
        (429, Verdict.THROTTLE),
        (502, Verdict.THROTTLE),
        (503, Verdict.THROTTLE),
        (504, Verdict.THROTTLE),
    ],
)
def test_each_answer_has_the_specifications_meaning(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_retry_after_is_read_in_seconds_or_as_a_date_and_anything_else_is_ignored() -> None:
    assert retry_after("120", NOW) == timedelta(seconds=120)
    assert retry_after(" 0 ", NOW) == timedelta(0)
    assert retry_after("Sat, 21 Nov 2026 12:05:00 GMT", NOW) == timedelta(minutes=5)
    assert retry_after("Sat, 21 Nov 2026 11:00:00 GMT", NOW) == timedelta(0)  # already past
    for nonsense in (None, "", "soon", "-5", "1.5", "Sat, 99 Nov 2026 12:05:00 GMT"):
        assert retry_after(nonsense, NOW) is None


def test_the_next_attempt_waits_for_retry_after_but_at_most_the_cap() -> None:
    rng = random.Random(1)
    asked = POLICY.next_attempt(1, NOW, rng, retry_after=timedelta(seconds=600))
    assert asked == NOW + timedelta(seconds=600)
    capped = POLICY.next_attempt(1, NOW, rng, retry_after=timedelta(days=3))
    assert capped == NOW + timedelta(seconds=POLICY.max_retry_after_seconds)
    shorter = POLICY.next_attempt(5, NOW, random.Random(1), retry_after=timedelta(seconds=1))
    assert shorter == POLICY.next_attempt(5, NOW, random.Random(1))  # the backoff is longer


@pytest.mark.parametrize(
    "spelling",
    [
        "HTTPS://Example.org:443/hook",
        "https://EXAMPLE.ORG/hook",
        "https://example.org./hook",
        "https://example.org/%68ook",
        "https://example.org/a/../hook",
        "https://example.org/./hook",
        "https://example.org/hook?",
        "https://example.org/hook#section",
    ],
)
def test_every_spelling_of_one_receiver_is_one_url(spelling: str) -> None:
    assert canonical_url(spelling) == "https://example.org/hook"


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("https://example.org/%7ehook", "https://example.org/~hook"),
        ("https://example.org/caf%c3%a9", "https://example.org/caf%C3%A9"),
        ("http://127.0.0.1:80/hooks/hub", "http://127.0.0.1/hooks/hub"),
        ("https://b\u00fccher.example/hook", "https://xn--bcher-kva.example/hook"),
    ],
)
def test_encodings_ports_and_international_hosts_have_one_spelling(
    spelling: str, canonical: str
) -> None:
    assert canonical_url(spelling) == canonical


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://example.org/hook", "https://example.org/Hook"),  # paths are case-sensitive
        ("https://example.org/hook", "https://example.org:8443/hook"),
        ("https://example.org/hook", "http://example.org/hook"),
        ("https://example.org/hook?b=2&a=1", "https://example.org/hook?a=1&b=2"),
        ("https://example.org/a%2Fb", "https://example.org/a/b"),  # %2F is data, not a slash
        ("https://example.org/hook", "https://example.org/hook/"),
    ],
)
def test_different_receivers_stay_different(one: str, other: str) -> None:
    assert canonical_url(one) != canonical_url(other)


SEGMENT = st.text(alphabet="abcXYZ019-._~%2fé", min_size=0, max_size=8)


@given(
    scheme=st.sampled_from(["https", "HTTPS", "Https", "http"]),
    host=st.sampled_from(["example.org", "Example.ORG", "example.org.", "hooks.example.org"]),
    port=st.sampled_from(["", ":443", ":80", ":8443"]),
    path=st.lists(SEGMENT, max_size=4),
    query=st.sampled_from(["", "?", "?a=1", "?a=%7e&b=2"]),
)
def test_the_one_spelling_is_its_own_one_spelling(
    scheme: str, host: str, port: str, path: list[str], query: str
) -> None:
    """Normalising twice changes nothing: what is stored compares equal to itself spelled
    again, so registering the stored URL again is always a rotation."""
    url = f"{scheme}://{host}{port}/{'/'.join(path)}{query}"
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert once.startswith(("https://", "http://"))
    assert "#" not in once
