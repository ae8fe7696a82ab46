"""What stands between a socket and a service's handlers (issue 25, "no unauthenticated
resource exhaustion"): every service's HTTP side, and any page served beside it, goes
through it.

In the order a request meets them:

1. **The connection** (``guarded_protocol``, uvicorn's httptools protocol with limits): the
   request line and headers must arrive within ``header_timeout`` of the connection opening
   (or of the previous answer on a kept-alive connection), or the connection is answered
   408 and closed; a request target longer than ``max_request_line_bytes`` is answered 414,
   headers longer than ``max_header_bytes`` in all 431, before any of it reaches the
   application. uvicorn itself bounds neither the time nor the size of a request's head.
2. **Credentials before the body** (``RequestGuard``): on protected paths (the APIs) the
   bearer credential is checked as soon as the headers are in: a missing, oversized or
   wrong one is answered 401 at once and the connection closed, without reading a byte of
   the body. Each failure is logged (the source address and why, never the credential) and
   counted per source; a source with ``failed_authentications`` failures in the window gets
   429 with ``Retry-After`` until the window moves on, without its credentials being
   checked at all (the ``limits`` library keeps the moving window). Failures are counted,
   not attempts, so that a busy honest client is never held back: requests from a source
   whose check had already begun when its limit was reached still get their 401.
3. **The body** is read in full before any handler runs, within ``body_timeout`` (408 and
   the connection closed when it is slower) and at most ``max_body_bytes`` (413).
4. **The in-flight limit** counts only work that got this far: authenticated requests with
   their whole body. Past ``max_in_flight`` the answer is 503 with ``Retry-After`` at once.
   Requests to unprotected paths (the API docs, a portal's login page) have their own
   smaller budget, so that they cannot take the authenticated work's room.

Health, readiness and metrics are answered before any of this, so an overloaded service is
never taken for a dead one; ``/readyz`` reports ``capacity: failing`` while every slot has
been taken for longer than ``saturated_after`` seconds (real requests cannot be served).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.plumbing.auth import Principal, Unauthenticated
from services.plumbing.db import CONNECTION_ERRORS
from services.plumbing.metrics import AUTHENTICATION_FAILURES, HTTP_REFUSALS

log = logging.getLogger(__name__)

PROBLEM = b"application/problem+json"
OPERATIONAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
PROTECTED_PREFIXES = ("/v1/", "/internal/")


@dataclass(frozen=True)
class HttpLimits:
    """The numbers every service's guard works to (settings: ``HTTP_*``)."""

    max_in_flight: int = 64
    max_anonymous_in_flight: int = 8
    header_timeout: float = 10.0
    body_timeout: float = 15.0
    max_request_line_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    max_credential_bytes: int = 4 * 1024
    failed_authentications: str = "20/minute"
    """Per source address, in ``limits`` notation (``20/minute``, ``100/hour``)."""
    saturated_after: float = 2.0


Authenticate = Callable[[Any, str], Awaitable[Principal]]
"""``(app, bearer credential) -> Principal``, raising ``Unauthenticated``."""


def principal_of(scope: Scope) -> Principal | None:
    """The principal the guard authenticated for this request, if it did."""
    found = scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else None


def _problem_bytes(status: int, title: str, detail: str) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(body).encode()


async def _answer(
    send: Send,
    status: int,
    title: str,
    detail: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = True,
) -> None:
    body = _problem_bytes(status, title, detail)
    all_headers = [
        (b"content-type", PROBLEM),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    if close:
        # The body may still be on its way: do not read it, end the connection instead.
        all_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


class Slots:
    """A count of requests being handled, with the moment it last became full."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.full_since: float | None = None

    def take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        if self.taken >= self.limit and self.full_since is None:
            self.full_since = time.monotonic()
        return True

    def give_back(self) -> None:
        self.taken -= 1
        if self.taken < self.limit:
            self.full_since = None

    def saturated_for(self) -> float:
        return 0.0 if self.full_since is None else time.monotonic() - self.full_since


class FailedAuthentications:
    """Failed authentications per source address, in a moving window (``limits``)."""

    def __init__(self, rate: str) -> None:
        self.item: RateLimitItem = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.recording: Counter[str] = Counter()
        """Failures already decided but not yet in the window: recording one may wait for
        the storage's lock (held while it expires old entries), and the checks made
        meanwhile count them, so that a crowd arriving together gets no more 401s than the
        limit allows, however busy the machine."""

    async def retry_after(self, source: str) -> int | None:
        """Seconds until ``source`` may try again, or None when it may now."""
        pending = self.recording[source]
        if pending < self.item.amount and await self.limiter.test(
            self.item, "auth", source, cost=1 + pending
        ):
            return None
        stats = await self.limiter.get_window_stats(self.item, "auth", source)
        return max(1, int(stats.reset_time - time.time()) + 1)

    async def failed(self, source: str) -> None:
        self.recording[source] += 1  # before any await: checks from now on count it
        try:
            await self.limiter.hit(self.item, "auth", source)
        finally:
            self.recording[source] -= 1
            if self.recording[source] <= 0:
                del self.recording[source]


def source_of(scope: Scope) -> str:
    """The client's address (uvicorn puts the forwarded one there when the peer is a
    trusted proxy, ``HTTP_TRUSTED_PROXIES``)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer_credential(scope: Scope, max_bytes: int) -> str:
    values: list[bytes] = [v for k, v in scope.get("headers") or [] if k == b"authorization"]
    if not values:
        raise Unauthenticated("missing", "This endpoint needs an Authorization: Bearer header.")
    if len(values) > 1:
        raise Unauthenticated("malformed", "Send one Authorization header.")
    raw = values[0]
    if len(raw) > max_bytes:
        raise Unauthenticated("too_long", "The credential is longer than any this API issues.")
    scheme, _, credential = raw.decode("latin-1").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer":
        # Another scheme (Basic, say) is no bearer credential at all: RFC 6750 3.1 asks
        # for no error code then.
        raise Unauthenticated(
            "malformed", "This endpoint needs an Authorization: Bearer header.", error=None
        )
    if not credential or " " in credential:
        raise Unauthenticated("malformed", "This endpoint needs an Authorization: Bearer header.")
    return credential


class RequestGuard:
    """Plain ASGI middleware: credentials before the body, the body within its deadline
    and size, then the in-flight limit (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: HttpLimits,
        authenticate: Authenticate,
        protected_prefixes: tuple[str, ...] = PROTECTED_PREFIXES,
    ) -> None:
        self.app = app
        self.limits = limits
        self.authenticate = authenticate
        self.protected_prefixes = protected_prefixes
        self.slots = Slots(limits.max_in_flight)
        self.anonymous_slots = Slots(limits.max_anonymous_in_flight)
        self.failures = FailedAuthentications(limits.failed_authentications)

    def capacity_ok(self) -> bool:
        """False while every slot has been taken for longer than ``saturated_after``."""
        return self.slots.saturated_for() <= self.limits.saturated_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPERATIONAL_PATHS:
            await self.app(scope, receive, send)
            return
        protected = str(scope.get("path", "")).startswith(self.protected_prefixes)
        if protected and not await self._authenticated(scope, send):
            return
        held = await self._read_body(scope, receive, send)
        if held is None:
            return
        slots = self.slots if protected else self.anonymous_slots
        if not slots.take():
            HTTP_REFUSALS.labels("at_capacity").inc()
            await _answer(
                send,
                503,
                "Service unavailable",
                "The service is at capacity; nothing was stored. Try again shortly.",
                headers=[(b"retry-after", b"1")],
                close=False,
            )
            return

        async def replay() -> Message:
            return held.pop(0) if held else await receive()

        try:
            await self.app(scope, replay, send)
        finally:
            slots.give_back()

    async def _authenticated(self, scope: Scope, send: Send) -> bool:
        source = source_of(scope)
        wait = await self.failures.retry_after(source)
        if wait is not None:
            HTTP_REFUSALS.labels("throttled").inc()
            await _answer(
                send,
                429,
                "Too many requests",
                "Too many failed authentications from this address; try again later.",
                headers=[(b"retry-after", str(wait).encode())],
            )
            return False
        try:
            credential = bearer_credential(scope, self.limits.max_credential_bytes)
            principal = await self.authenticate(scope.get("app"), credential)
        except CONNECTION_ERRORS as exc:
            # A provider key is checked in the database: unreachable is 503, not 401 or 500.
            log.warning("credentials could not be checked", extra={"error": type(exc).__name__})
            await _answer(
                send,
                503,
                "Service unavailable",
                "Your credentials cannot be checked right now; nothing was stored. "
                "Try again shortly.",
                headers=[(b"retry-after", b"5")],
            )
            return False
        except Unauthenticated as refused:
            await self.failures.failed(source)
            AUTHENTICATION_FAILURES.labels(refused.reason).inc()
            # The source and why; never the credential, the path or anything else sent.
            log.warning(
                "authentication failed",
                extra={"source": source, "reason": refused.reason, "method": scope["method"]},
            )
            await _answer(
                send,
                401,
                "Unauthorised",
                refused.sentence,
                headers=[(b"www-authenticate", refused.challenge.encode())],
            )
            return False
        scope.setdefault("state", {})["principal"] = principal
        return True

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> list[Message] | None:
        """The request's messages up to its last body part; None when it was answered here
        (413, 408) or the client went away."""
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_long = declared is not None and (
            not declared.isdigit() or int(declared) > self.limits.max_body_bytes
        )
        if too_long:
            await self._too_large(send)
            return None
        held: list[Message] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                while True:
                    message = await receive()
                    held.append(message)
                    if message["type"] != "http.request":
                        return held  # the client went away; the handler will see it too
                    size += len(message.get("body", b""))
                    if size > self.limits.max_body_bytes:
                        await self._too_large(send)
                        return None
                    if not message.get("more_body", False):
                        return held
        except TimeoutError:
            HTTP_REFUSALS.labels("body_timeout").inc()
            await _answer(
                send,
                408,
                "Request timeout",
                f"The request body did not arrive within {self.limits.body_timeout:g} seconds; "
                "nothing was stored.",
            )
            return None

    async def _too_large(self, send: Send) -> None:
        HTTP_REFUSALS.labels("body_too_large").inc()
        await _answer(
            send,
            413,
            "Payload too large",
            f"Request bodies are limited to {self.limits.max_body_bytes} bytes.",
        )


def guarded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, with a deadline and a size limit for each request's
    line and headers (uvicorn has neither: a client could hold a connection open forever
    by sending nothing, or a header a byte at a time, and make it buffer without end)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"guard_limits": limits})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """See ``guarded_protocol``, which gives it its limits."""

    guard_limits: ClassVar[HttpLimits]
    _refused = False
    _in_head = False
    _head_bytes = 0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            # The next request on this connection gets the same time for its head.
            self._arm_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.guard_limits.max_request_line_bytes:
            self._refuse(414, "URI too long", "The request target is too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self.guard_limits.max_header_bytes:
            self._refuse(
                431,
                "Request header fields too large",
                f"Request headers are limited to {self.guard_limits.max_header_bytes} bytes "
                "in all.",
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_deadline()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal already answered, and stopped the parser
            super().send_400_response(msg)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(
            self.guard_limits.header_timeout, self._head_late
        )

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_late(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            HTTP_REFUSALS.labels("header_timeout").inc()
            self._write_refusal(
                408, "Request timeout", "The request headers did not arrive in time."
            )
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def _refuse(self, status: int, title: str, detail: str) -> None:
        HTTP_REFUSALS.labels(f"head_{status}").inc()
        self._write_refusal(status, title, detail)
        raise _HeadRefused

    def _write_refusal(self, status: int, title: str, detail: str) -> None:
        self._refused = True
        self._disarm_head_deadline()
        body = _problem_bytes(status, title, detail)
        self.transport.write(
            b"".join(
                [
                    f"HTTP/1.1 {status} {title}\r\n".encode(),
                    b"content-type: application/problem+json\r\n",
                    f"content-length: {len(body)}\r\n".encode(),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


class _HeadRefused(Exception):
    """Stops the parser once a request's head was refused (and answered)."""
