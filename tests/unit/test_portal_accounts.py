"""The portal's account rules (pure) and its secrets (argon2id, TOTP, sealing): lock-out
after repeated failures, idle and absolute session time-outs, a TOTP code accepted once, a
sealed secret that opens only for its own account, and the people's coded actor."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from schemas.codes import Service
from schemas.events import Actor
from services.provider_adapter.adapters import credentials
from services.provider_adapter.domain.accounts import (
    LockoutPolicy,
    SessionState,
    actor_id,
    after_failure,
    code_is_fresh,
    is_locked,
    normalise_username,
    password_problem,
    session_state,
    username_problem,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
POLICY = LockoutPolicy(attempts=5, duration=timedelta(minutes=15))


def test_the_fifth_failure_in_a_row_locks_for_fifteen_minutes() -> None:
    failed, locked_until = 0, None
    for _ in range(4):
        failed, locked_until = after_failure(failed, NOW, POLICY)
        assert locked_until is None
    failed, locked_until = after_failure(failed, NOW, POLICY)
    assert locked_until == NOW + timedelta(minutes=15)
    assert failed == 0
    assert is_locked(locked_until, NOW + timedelta(minutes=14, seconds=59))
    assert not is_locked(locked_until, NOW + timedelta(minutes=15))


@given(st.integers(min_value=0, max_value=3))
def test_fewer_failures_than_the_policy_never_lock(earlier: int) -> None:
    failed, locked_until = after_failure(earlier, NOW, POLICY)
    assert locked_until is None
    assert failed == earlier + 1


def test_a_session_ends_when_idle_and_at_its_lifetime_however_busy() -> None:
    idle = timedelta(minutes=30)
    expires = NOW + timedelta(hours=12)
    assert session_state(last_seen_at=NOW, expires_at=expires, now=NOW, idle=idle) is (
        SessionState.LIVE
    )
    later = NOW + timedelta(minutes=30)
    assert session_state(last_seen_at=NOW, expires_at=expires, now=later, idle=idle) is (
        SessionState.IDLE
    )
    busy_to_the_end = expires
    assert (
        session_state(last_seen_at=expires, expires_at=expires, now=busy_to_the_end, idle=idle)
        is SessionState.EXPIRED
    )


def test_a_code_is_accepted_once_and_never_an_older_one() -> None:
    assert code_is_fresh(100, None)
    assert code_is_fresh(101, 100)
    assert not code_is_fresh(100, 100)
    assert not code_is_fresh(99, 100)


def test_totp_codes_within_one_step_of_now_are_right_and_others_are_not() -> None:
    secret = pyotp.random_base32()
    now = time.time()
    current = int(now // 30)
    totp = pyotp.TOTP(secret)
    assert credentials.totp_step(secret, totp.at(now), now) == current
    assert credentials.totp_step(secret, totp.at(now + 30), now) == current + 1
    assert credentials.totp_step(secret, totp.at(now - 30), now) == current - 1
    far = totp.at(now + 120)
    assert credentials.totp_step(secret, far, now) is None or far in {
        totp.at(now + d) for d in (-30, 0, 30)
    }
    assert credentials.totp_step(secret, "12345", now) is None
    assert credentials.totp_step(secret, "abcdef", now) is None
    spaced = totp.at(now)
    assert credentials.totp_step(secret, f"{spaced[:3]} {spaced[3:]}", now) == current


def test_a_sealed_secret_opens_only_for_its_own_account_and_key() -> None:
    sealer = credentials.Sealer("k" * 64)
    account, other = uuid.uuid4(), uuid.uuid4()
    nonce, sealed = sealer.seal(account, "JBSWY3DPEHPK3PXP")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert sealer.open(account, nonce, sealed) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidTag):
        sealer.open(other, nonce, sealed)
    with pytest.raises(InvalidTag):
        credentials.Sealer("x" * 64).open(account, nonce, sealed)


def test_passwords_are_argon2id_hashes_that_verify_only_the_right_password() -> None:
    async def check() -> None:
        stored = await credentials.hash_password("a long passphrase here")
        assert stored.startswith("$argon2id$")
        assert await credentials.verify_password(stored, "a long passphrase here")
        assert not await credentials.verify_password(stored, "a long passphrase her")
        # No account: the same work is done, and the answer is no.
        assert not await credentials.verify_password(None, "a long passphrase here")

    asyncio.run(check())


def test_tokens_are_stored_only_as_their_hash() -> None:
    token = credentials.new_token()
    assert len(token) >= 43
    assert credentials.token_hash(token) != token
    assert credentials.token_hash(token) == credentials.token_hash(token)


@pytest.mark.parametrize(
    ("password", "confirmation", "problem"),
    [
        ("", "", "Enter a password"),
        ("short", "short", "Password must be 12 characters or more"),
        ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "Password must not be one character repeated"),
        ("my name is sam.lee ok", "my name is sam.lee ok", "must not contain your username"),
        ("a long passphrase", "a long passphrasf", "The passwords do not match"),
        ("a long passphrase", "a long passphrase", None),
    ],
)
def test_password_rules(password: str, confirmation: str, problem: str | None) -> None:
    found = password_problem(password, confirmation, "sam.lee")
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_usernames_are_normalised_and_checked() -> None:
    assert normalise_username("  Sam.Lee@Example.org ") == "sam.lee@example.org"
    assert username_problem("sam.lee@example.org") is None
    assert username_problem("") == "Enter a username"
    assert username_problem("a b") is not None
    assert username_problem("ab") is not None


@given(st.sampled_from(list(Service)), st.uuids())
def test_the_coded_actor_is_valid_on_the_bus_and_names_no_one(
    service: Service, account: uuid.UUID
) -> None:
    actor = actor_id(service, account)
    assert TypeAdapter(Actor).validate_python(actor) == actor
    assert actor.startswith(f"{service.value}:caseworker:")


@pytest.mark.parametrize(
    "not_an_actor",
    ["Jane Smith", "IDVA:caseworker:jane", "XYZ:caseworker:" + str(uuid.UUID(int=1)), ""],
)
def test_anything_else_is_refused_as_an_actor(not_an_actor: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Actor).validate_python(not_an_actor)
