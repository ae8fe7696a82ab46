"""Provider API keys: at most two active at once, so a provider can roll from one to the
next without downtime, and never none."""

from __future__ import annotations

import secrets

from schemas.refusals import Refused

MAX_ACTIVE = 2


class KeyRuleBroken(Refused):
    """Adding or retiring the key would break the rule above (409); the sentence says how."""


def new_key(service: str) -> str:
    return f"pk_{service.lower()}_{secrets.token_urlsafe(32)}"


def prefix(key: str) -> str:
    """Enough of a key to recognise it in a list, not enough to use it."""
    return key[: len(key.split("_", 2)[0]) + len(key.split("_", 2)[1]) + 6]


def check_can_add(active: int) -> None:
    if active >= MAX_ACTIVE:
        raise KeyRuleBroken(
            f"You already have {MAX_ACTIVE} active keys; retire one before adding another."
        )


def check_can_retire(active: int) -> None:
    if active <= 1:
        raise KeyRuleBroken("This is your only active key; add a new one before retiring it.")
