"""Records as the hub's consumers read them: whatever their bytes, each reaches the consumer
wrapper (``services/plumbing/kafka.py``), which dead-letters the ones it cannot read.

Two layers stand between a fetched record and the wrapper, and both used to raise on a
header that is not UTF-8, taking other records down with it:

- aiokafka, on a header *name* that is not UTF-8 (below);
- FastStream's parsers, on a header *value* that is not UTF-8 or absent: they decode every
  value strictly, and its batch parser raises for the whole fetched batch, which is then
  skipped without reaching any dead-letter topic (ag2ai/faststream#2458). ``parse_record``
  and ``parse_batch`` hand FastStream values that decode with surrogate escapes instead.

``check_text`` then says which part of a record is not text (``NotDecodable``), for its dead
letter: the part, never its content.

The correction to aiokafka, applied when ``kafka`` and ``deadletters`` are imported:

Kafka's protocol calls a header's name a string, but no broker checks it: a client that
takes names as bytes (librdkafka, Go's sarama and franz-go) can write one that is not UTF-8.
aiokafka (0.14) decodes names strictly while it unpacks a fetched batch, so such a record
raises ``UnicodeDecodeError`` out of ``getone``/``getmany`` with its C record reader (the
consumer task dies), or ``CorruptRecordException`` with its Python one (the partition is
fetched again and again): either way nothing after that record on its partition is ever
read. With this correction a batch that fails so is unpacked again by aiokafka's own Python
reader, keeping each such name's bytes as surrogate escapes (``b'qa-\\xc3('`` becomes
``'qa-\\udcc3('``), and the record reaches the hub's consumer, which dead-letters it with its
error (``services/plumbing/kafka.py``). Batches without such a name are read by the C reader
as before: the only cost is a thin wrapper per batch and per record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, SupportsIndex

from aiokafka.consumer import fetcher
from aiokafka.record import default_records
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord

LOG_OVERHEAD = 12
"""Every batch in a fetched message set starts with its base offset (8 bytes) and its
length (4 bytes): what the length does not count."""


class _Escaping(bytes):
    """A header name's bytes: decoded with surrogate escapes, never refused."""

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes.decode(self, encoding, "surrogateescape")


class _EscapingBuffer(bytearray):
    """A batch's bytes whose slices decode with surrogate escapes (aiokafka's Python reader
    decodes each header name from a slice of its buffer)."""

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        item = super().__getitem__(index)
        return _Escaping(item) if isinstance(index, slice) else item


class _EscapingBatch(default_records._DefaultRecordBatchPy):  # type: ignore[misc]
    """aiokafka's Python record batch reader, keeping header names that are not UTF-8."""

    def __init__(self, buffer: bytes) -> None:
        super().__init__(buffer)
        self._buffer = _EscapingBuffer(self._buffer)  # type: ignore[has-type]

    def _maybe_uncompress(self) -> None:
        super()._maybe_uncompress()  # a new bytearray, if the batch was compressed
        self._buffer = _EscapingBuffer(self._buffer)


class _TolerantBatch:
    """One fetched batch: read by aiokafka's own (C) reader, and again by ``_EscapingBatch``
    from the record it stumbled on, if a header name is not UTF-8."""

    def __init__(self, batch: Any, raw: memoryview) -> None:
        self._batch = batch
        self._raw = raw
        self._records: Iterator[Any] = batch
        self._last_offset = -1
        self._escaping = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __iter__(self) -> _TolerantBatch:
        self._records = iter(self._batch)
        return self

    def __next__(self) -> Any:
        if not self._escaping:
            try:
                record = next(self._records)
            except UnicodeDecodeError:
                self._escaping = True
                self._records = iter(_EscapingBatch(bytes(self._raw)))
            else:
                self._last_offset = record.offset
                return record
        while True:
            record = next(self._records)
            if record.offset > self._last_offset:
                return record


class TolerantMemoryRecords:
    """aiokafka's ``MemoryRecords`` (a fetched message set), whose v2 batches are
    ``_TolerantBatch``es."""

    def __init__(self, data: bytes) -> None:
        self._records = MemoryRecords(data)
        self._data = memoryview(data)
        self._position = 0

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        if batch is None:
            return None
        start = self._position
        length = int.from_bytes(self._data[start + 8 : start + LOG_OVERHEAD], "big", signed=True)
        self._position = start + LOG_OVERHEAD + length
        if isinstance(batch, default_records.DefaultRecordBatch):
            return _TolerantBatch(batch, self._data[start : self._position])
        return batch  # the old message formats carry no headers


def tolerate_header_names_that_are_not_utf8() -> None:
    """Make every aiokafka consumer in the process read such records (idempotent)."""
    fetcher.MemoryRecords = TolerantMemoryRecords


def name_bytes(name: str) -> bytes:
    """A header name's bytes as they were on the wire (surrogate escapes undone)."""
    return name.encode("utf-8", "surrogateescape")


def is_text(name: str) -> bool:
    """Whether a header name read through this correction was valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Header = tuple[str, bytes | None]
"""A record's header as read through this module: its name (surrogate-escaped where its
bytes were not UTF-8) and its value's bytes, or None."""

NAME_SHOWN = 64
"""The longest header name an error repeats (a name is the writer's text, not ours)."""


class NotDecodable(ValueError):
    """A part of a record (a header's name or value, the key) is not UTF-8 text. The message
    names the part, never its content."""


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 text (checked strictly, whatever its type)."""
    try:
        bytes.decode(data, "utf-8")  # strictly, even for the escaping bytes above
    except UnicodeDecodeError:
        return False
    return True


def check_text(key: bytes | None, headers: Sequence[Header]) -> None:
    """Raise ``NotDecodable`` for the first part of a record that is not UTF-8 text: a
    header's name, a header's value (absent is fine), then the key."""
    for name, value in headers:
        if not is_text(name):
            raise NotDecodable("a header name is not UTF-8 text")
        if value is not None and not is_utf8(value):
            raise NotDecodable(f"header {name[:NAME_SHOWN]} is not UTF-8 text")
    if key is not None and not is_utf8(key):
        raise NotDecodable("the key is not UTF-8 text")


def text_headers(headers: Sequence[Header]) -> dict[str, str]:
    """``headers`` as text, for trace context and the retry headers: an absent value is
    empty; bytes that are not UTF-8 are kept as surrogate escapes (``republished`` undoes
    them)."""
    return {name: (value or b"").decode("utf-8", "surrogateescape") for name, value in headers}


class _Bytes(str):
    """A header value that encodes to exactly the bytes it was read from (FastStream's
    producer encodes each value with ``str.encode()``, which refuses surrogate escapes)."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return str.encode(self, "utf-8", "surrogateescape")


def republished(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers of a record the hub read, to publish again (retry and dead-letter topics)
    through FastStream: each value's bytes as they were read; a name that was not UTF-8
    (which no producer of aiokafka's can write) with its bytes spelled ``\\xNN``."""
    return {
        (name if is_text(name) else _spelled(name)): _Bytes(value)
        for name, value in headers.items()
    }


def _spelled(name: str) -> str:
    return name_bytes(name).decode("utf-8", "backslashreplace")


def _tolerant(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    headers = [(name, _Escaping(value or b"")) for name, value in record.headers or ()]
    return dataclasses.replace(record, headers=headers)


Parse = Callable[[Any], Awaitable[Any]]


async def parse_record(record: ConsumerRecord[Any, Any], original: Parse) -> Any:
    """FastStream's own parser (``subscriber(parser=...)``), given header values it can
    decode whatever their bytes."""
    return await original(_tolerant(record))


async def parse_batch(records: tuple[ConsumerRecord[Any, Any], ...], original: Parse) -> Any:
    """``parse_record`` for a batch subscriber: one record it cannot decode no longer makes
    the whole batch fail."""
    return await original(tuple(_tolerant(record) for record in records))


async def raw_body(message: Any) -> Any:
    """The decoder for every subscriber: the wrapper reads the bytes itself (FastStream's
    batch decoder parses each record again, strictly)."""
    return message.body
