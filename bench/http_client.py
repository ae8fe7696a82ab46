"""A minimal HTTP/1.1 keep-alive client for load generation.

The load generator runs on the same two cores as the hub, so every microsecond it spends is
taken from the service it measures. A general-purpose client (httpx) costs several hundred
microseconds of CPU per request; this one writes pre-rendered request bytes and reads a
status line, the headers and a ``Content-Length`` (or chunked) body, nothing else.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> Response:
        self._writer.write(raw)
        status_line = await self._reader.readline()
        if not status_line:
            raise HttpError("connection closed by the server")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        close = False
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self._reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await self._reader.readline()
                    break
                parts.append(await self._reader.readexactly(size))
                await self._reader.readline()
            body = b"".join(parts)
        elif length is not None:
            body = await self._reader.readexactly(length)
        else:
            body = b""
        if close:
            self.close()
        return Response(status, body)

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()

    def close(self) -> None:
        self._writer.close()


class Client:
    """Requests to one base URL over a pool of keep-alive connections (opened on demand)."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._idle: list[Connection] = []

    def render(self, method: str, path: str, body: Any = None) -> bytes:
        """The request's bytes, to be sent as they are (render ahead of a timed run)."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload

    async def send(self, raw: bytes) -> Response:
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else await Connection.open(self.host, self.port)
        try:
            response = await conn.request(raw)
        except HttpError:
            conn.close()
            if not reused:
                raise
            # The server closed an idle keep-alive connection before reading the request:
            # nothing was done, so send it again on a new connection.
            conn = await Connection.open(self.host, self.port)
            response = await conn.request(raw)
        except BaseException:
            conn.close()
            raise
        if not conn.closed:
            self._idle.append(conn)
        return response

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
