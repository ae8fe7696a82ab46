"""JSON whose meaning does not depend on the parser: refuse duplicate object members.

RFC 8259 (section 4) says names within an object SHOULD be unique and that parsers differ
when they are not: Python's ``json``, pydantic and most others keep the last, some keep
the first, some refuse. ``{"consent": {"status": "refused", "status": "given"}}`` would
be read as consent given here and as consent refused elsewhere (issue 14, case 6). Every
request body and every event the hub reads goes through ``check`` first.

``NaN``, ``Infinity`` and ``-Infinity`` are refused too: they are not JSON at all, and
parsers that accept them disagree about what they are.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_PATHS = 20


class DuplicateMembers(ValueError):
    """An object in the document names the same member more than once. ``paths`` are the
    dotted paths of the members (``consent.status``; array items by index,
    ``routes.0.service``), for the error answer."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(f"duplicate members: {', '.join(paths)}")
        self.paths = paths


class NotJson(ValueError):
    """The document is not valid JSON (RFC 8259)."""


class _Duplicated(Exception):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _Duplicated
    return members


def _not_a_number(name: str) -> Any:
    raise NotJson(f"{name} is not a JSON value")


def loads(document: bytes | str) -> Any:
    """Parse ``document`` like ``json.loads``; raises ``DuplicateMembers`` when an object
    repeats a member and ``NotJson`` when it is not JSON."""
    try:
        return json.loads(document, object_pairs_hook=_unique_members, parse_constant=_not_a_number)
    except _Duplicated:
        raise DuplicateMembers(_duplicate_paths(document)) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        if isinstance(exc, NotJson):
            raise
        raise NotJson(str(exc)) from None


def check(document: bytes | str) -> None:
    """``loads`` for its errors only."""
    loads(document)


class _Pairs(list[tuple[str, Any]]):
    """An object as written, duplicates and all (only used to name them)."""


def _segment(name: str | int) -> str:
    # A member name is the client's text: show it only when it is a plain field name, so
    # that an error answer can never repeat personal data written as a name.
    text = str(name)
    return text if _PLAIN_NAME.match(text) else "(member)"


def _duplicate_paths(document: bytes | str) -> list[str]:
    found: list[str] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if len(found) >= MAX_PATHS:
            return
        if isinstance(value, _Pairs):
            seen: set[str] = set()
            for name, item in value:
                if name in seen:
                    label = ".".join(_segment(p) for p in (*path, name))
                    if label not in found:
                        found.append(label)
                seen.add(name)
                walk(item, (*path, name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(json.loads(document, object_pairs_hook=_Pairs), ())
    return found
