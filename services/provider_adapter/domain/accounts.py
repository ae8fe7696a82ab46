"""People's accounts in the provider portal, as pure rules: who a person is on the bus, what
a username and a password must be, when repeated failures lock an account, and when a
session has ended.

Sources: NCSC password guidance (length over composition rules, no forced expiry, throttle
or lock out guessing); OWASP Session Management Cheat Sheet (idle and absolute time-outs,
a new session id at sign-in); RFC 6238 (TOTP, a code accepted once).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.codes import Service


class Role(StrEnum):
    CASEWORKER = "caseworker"
    ADMINISTRATOR = "administrator"


class AccountState(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    REMOVED = "removed"


def actor_id(service: Service, account_id: uuid.UUID) -> str:
    """The coded actor for a person at ``service``: ``IDVA:caseworker:<account id>``. It is
    what the bus, the timeline and the disclosure log carry instead of a name."""
    return f"{service.value}:caseworker:{account_id}"


USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
DISPLAY_NAME_MAX_LENGTH = 100


def normalise_username(raw: str) -> str:
    return raw.strip().lower()


def username_problem(username: str) -> str | None:
    """A sentence for the form, or None when ``username`` (normalised) will do."""
    if not username:
        return "Enter a username"
    if not USERNAME.fullmatch(username):
        return (
            "Username must be 3 to 64 characters: letters, numbers, full stops, hyphens, "
            "underscores or @, starting with a letter or number"
        )
    return None


def display_name_problem(name: str) -> str | None:
    if not name.strip():
        return "Enter the person's full name"
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        return f"Full name must be {DISPLAY_NAME_MAX_LENGTH} characters or fewer"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "Full name must not contain control characters"
    return None


def password_problem(password: str, confirmation: str, username: str) -> str | None:
    """NCSC: a long password beats composition rules; refuse the obvious ones."""
    if not password:
        return "Enter a password"
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Password must be {PASSWORD_MIN_LENGTH} characters or more"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"Password must be {PASSWORD_MAX_LENGTH} characters or fewer"
    if username and username in password.lower():
        return "Password must not contain your username"
    if len(set(password)) < 4:
        return "Password must not be one character repeated"
    if password != confirmation:
        return "The passwords do not match"
    return None


@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int
    """Consecutive failed sign-ins (password or code) that lock the account."""
    duration: timedelta


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def after_failure(
    failed_attempts: int, now: datetime, policy: LockoutPolicy
) -> tuple[int, datetime | None]:
    """The failure count and lock after one more failed attempt: the ``attempts``-th in a row
    locks the account for ``duration`` and starts the count again."""
    failed = failed_attempts + 1
    if failed >= policy.attempts:
        return 0, now + policy.duration
    return failed, None


class SessionState(StrEnum):
    LIVE = "live"
    IDLE = "idle"
    """No request for longer than the idle time-out."""
    EXPIRED = "expired"
    """Past its absolute lifetime, however busy."""


def session_state(
    *, last_seen_at: datetime, expires_at: datetime, now: datetime, idle: timedelta
) -> SessionState:
    if now >= expires_at:
        return SessionState.EXPIRED
    if now - last_seen_at >= idle:
        return SessionState.IDLE
    return SessionState.LIVE


def code_is_fresh(step: int, last_step: int | None) -> bool:
    """RFC 6238 section 5.2: a code (its time step) is accepted at most once, and never one
    older than the last accepted."""
    return last_step is None or step > last_step
