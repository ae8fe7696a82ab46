"""Database rows as the frozen dataclasses intake's stores return: each column becomes the
field of the same name, as the field's annotation says (a code enum from its text, a tuple
from an array), so that a code the schema does not know fails here, on reading, and not
later in a handler."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import asyncpg

from services.plumbing.db import Connection

Row = TypeVar("Row")
Convert = Callable[[Any], Any]


def typed(kind: type[Row], record: asyncpg.Record) -> Row:
    """``record`` (with a column for every field of ``kind``) as a ``kind``; ``ValueError``
    for a code its enum does not have, ``KeyError`` for a missing column."""
    return kind(**{name: convert(record[name]) for name, convert in _converters(kind)})


def typed_or_none(kind: type[Row], record: asyncpg.Record | None) -> Row | None:
    """``typed``, or None for no row."""
    return None if record is None else typed(kind, record)


def typed_all(kind: type[Row], records: Iterable[asyncpg.Record]) -> list[Row]:
    """``typed`` for each row, in order."""
    return [typed(kind, record) for record in records]


async def fetch_all(conn: Connection, kind: type[Row], query: str, *args: object) -> list[Row]:
    """The rows ``query`` returns, each as a ``kind``."""
    return typed_all(kind, await conn.fetch(query, *args))


async def fetch_one(conn: Connection, kind: type[Row], query: str, *args: object) -> Row | None:
    """The first row ``query`` returns as a ``kind``, or None when it returns none."""
    return typed_or_none(kind, await conn.fetchrow(query, *args))


_CONVERTERS: dict[type[Any], tuple[tuple[str, Convert], ...]] = {}


def _converters(kind: type[Any]) -> tuple[tuple[str, Convert], ...]:
    """Each field's name and how its column becomes it, worked out once per kind."""
    if kind not in _CONVERTERS:
        hints = typing.get_type_hints(kind)
        _CONVERTERS[kind] = tuple(
            (f.name, _converter(hints[f.name])) for f in dataclasses.fields(kind)
        )
    return _CONVERTERS[kind]


def _converter(hint: Any) -> Convert:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (inner,) = (a for a in args if a is not type(None))
        convert = _converter(inner)
        return lambda value: None if value is None else convert(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if typing.get_origin(hint) is tuple:
        return tuple
    if typing.get_origin(hint) is dict:
        return lambda value: value or {}
    return lambda value: value
