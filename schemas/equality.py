"""Equality monitoring code lists (``equality.json``): the 2021 Census categories for
England and Wales per characteristic, with ``not_asked`` and ``prefer_not_to_say``.

The answers are special category data (UK GDPR article 9, DPA 2018 part 3): intake keeps
them in its vault with the other personal data, and only counts leave it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CODES = Path(__file__).with_name("equality.json")

NOT_ASKED = "not_asked"
"""Nobody asked the person (the default)."""
PREFER_NOT_TO_SAY = "prefer_not_to_say"
"""The person was asked and chose not to answer."""
NOT_RECORDED = (NOT_ASKED, PREFER_NOT_TO_SAY)


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CODES.read_text())
    return data


def characteristics() -> tuple[str, ...]:
    """The monitored characteristics, in the contract's order."""
    return tuple(_data()["characteristics"])


def categories(characteristic: str) -> dict[str, str]:
    """Code -> the Census's label, for one characteristic (without the two non-answers)."""
    found: dict[str, str] = _data()["characteristics"][characteristic]["categories"]
    return found


def allowed(characteristic: str) -> tuple[str, ...]:
    """Every code the API accepts for ``characteristic``."""
    return (*categories(characteristic), *NOT_RECORDED)


def title(characteristic: str) -> str:
    return str(_data()["characteristics"][characteristic]["title"])


def source(characteristic: str) -> str:
    return str(_data()["characteristics"][characteristic]["source"])
