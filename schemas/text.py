"""Free text as the hub accepts it: no control characters. NUL cannot be stored, and a
control character in a name, an address or a note is always a paste gone wrong."""

from __future__ import annotations

from typing import Any


def refuse_control_characters(value: Any) -> Any:
    """A pydantic ``field_validator`` body: strings with control characters are refused."""
    if isinstance(value, str) and any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise ValueError("contains control characters")
    return value
