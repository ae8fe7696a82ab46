"""The request guard over real sockets (issue 25, finding 2): a crowd of slow bodies sent
without credentials locks nobody out, because credentials are checked before a body is
read and only authenticated work counts towards the in-flight limit; a slow body or slow
headers time out; oversized heads are refused before they reach the application; failed
authentications are throttled per source; readiness says when every slot is taken."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from deploy.localstack.ports import free_port
from services.plumbing.auth import Principal, Unauthenticated
from services.plumbing.guard import HttpLimits, RequestGuard, guarded_protocol
from tests.support.waiting import eventually, until

GOOD_KEY = "pk_test_" + "k" * 43
PATH = "/v1/referrals/7c8e8f0a-5a8e-4a53-8b0f-0c9f1f1f1f1f/acknowledge"
LIMITS = HttpLimits(
    max_in_flight=4,
    max_anonymous_in_flight=2,
    header_timeout=1.5,
    body_timeout=1.5,
    max_request_line_bytes=2048,
    max_header_bytes=4096,
    max_body_bytes=64 * 1024,
    max_credential_bytes=512,
    failed_authentications="5/minute",
    saturated_after=0.2,
)


async def _authenticate(_app: Any, credential: str) -> Principal:
    if credential != GOOD_KEY:
        raise Unauthenticated("invalid", "This provider key is not recognised.")
    return Principal(subject="provider:TEST", roles=frozenset({"provider"}))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _app(release: asyncio.Event) -> tuple[FastAPI, RequestGuard]:
    app = FastAPI()
    guard = RequestGuard(app.router, limits=LIMITS, authenticate=_authenticate)

    @app.post("/v1/referrals/{referral_id}/acknowledge")
    async def acknowledge(referral_id: str, request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"referral_id": referral_id, "decision": body["decision"]}

    @app.get("/v1/queue")
    async def queue() -> dict[str, Any]:
        return {"items": []}

    @app.get("/v1/hold")
    async def hold() -> dict[str, str]:
        await release.wait()
        return {"held": "yes"}

    @app.get("/readyz")
    async def readyz() -> dict[str, bool]:
        return {"capacity": guard.capacity_ok()}

    class Guarded:
        def __init__(self, inner: Any) -> None:
            guard.app = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await guard(scope, receive, send)

    app.add_middleware(Guarded)
    return app, guard


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, int, asyncio.Event, RequestGuard]]:
    release = asyncio.Event()
    app, guard = _app(release)
    port = free_port()
    server = _Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="none",
            http=guarded_protocol(LIMITS),
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, timeout=10, what="server started")
    try:
        yield "127.0.0.1", port, release, guard
    finally:
        release.set()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


def _slow_request(path: str, authorization: str | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: hub",
        "Content-Type: application/json",
        "Content-Length: 1000",
    ]
    if authorization:
        lines.append(f"Authorization: Bearer {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n{").encode()


async def _open(
    host: str, port: int, first: bytes, source: str | None = None
) -> tuple[asyncio.StreamReader, Any]:
    """A raw connection (from the address ``source``, if given) that has sent ``first``."""
    if source is None:
        reader, writer = await asyncio.open_connection(host, port)
    else:
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect((host, port))
        reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(first)
    await writer.drain()
    return reader, writer


@contextlib.asynccontextmanager
async def _slow_bodies(
    host: str, port: int, count: int, *, key: str | None = None, source: str | None = None
) -> AsyncIterator[list[asyncio.StreamReader]]:
    """``count`` connections (from the address ``source``, if given) that each send the head
    of a POST to ``PATH`` with ``key``, and never its body; closed after."""
    opened = [await _open(host, port, _slow_request(PATH, key), source) for _ in range(count)]
    try:
        yield [reader for reader, _ in opened]
    finally:
        for _, writer in opened:
            writer.close()


def _client(host: str, port: int, key: str | None = GOOD_KEY, **options: Any) -> httpx.AsyncClient:
    """An HTTP client of the guarded app, presenting ``key`` (the provider's, unless None)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=headers, **options)


async def _status_of(reader: asyncio.StreamReader, timeout: float = 10) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout)
    return int(line.split()[1])


async def _answer_of(
    reader: asyncio.StreamReader, timeout: float = 10
) -> tuple[int, dict[str, Any]]:
    raw = await asyncio.wait_for(reader.read(), timeout)  # the guard closes the connection
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


async def test_66_slow_bodies_without_credentials_lock_nobody_out(
    served: tuple[str, int, asyncio.Event, RequestGuard],
) -> None:
    host, port, _, _ = served
    async with _slow_bodies(host, port, 66) as attackers:
        # Each is answered at once without its body being read, and its connection closed:
        # 401, or 429 once this address has failed five times in the minute.
        answers = await asyncio.gather(*(_answer_of(r) for r in attackers))
        statuses = [status for status, _ in answers]
        # Five failures, plus at most a few whose check had begun when the fifth was
        # recorded (the throttle counts failures, not attempts in flight).
        assert 5 <= statuses.count(401) <= 10
        assert statuses.count(429) == 66 - statuses.count(401)
        assert all(PATH not in json.dumps(body) for _, body in answers)


async def test_authorised_calls_are_served_while_slow_unauthenticated_bodies_hang(
    served: tuple[str, int, asyncio.Event, RequestGuard],
) -> None:
    """The attackers come from another source address than the provider (127.0.0.2)."""
    host, port, _, guard = served
    async with _slow_bodies(host, port, 66, source="127.0.0.2") as attackers:
        async with _client(host, port) as client:
            for _ in range(10):
                ok = await client.post(PATH, json={"decision": "accepted"})
                assert ok.status_code == 200, ok.text
                assert (await client.get("/v1/queue")).status_code == 200
        assert guard.slots.taken == 0
        statuses = await asyncio.gather(*(_status_of(r) for r in attackers))
        assert set(statuses) <= {401, 429}


async def test_an_authenticated_slow_body_times_out_with_408_and_holds_no_slot(
    served: tuple[str, int, asyncio.Event, RequestGuard],
) -> None:
    host, port, _, guard = served
    async with _slow_bodies(host, port, LIMITS.max_in_flight + 2, key=GOOD_KEY) as slow:
        async with _client(host, port) as client:
            # More slow bodies than slots, yet a whole request is served: a body on its way
            # takes no slot.
            assert (await client.get("/v1/queue")).status_code == 200
        started = time.monotonic()
        answers = await asyncio.gather(*(_answer_of(r) for r in slow))
        assert {status for status, _ in answers} == {408}
        assert answers[0][1]["title"] == "Request timeout"
        assert time.monotonic() - started < LIMITS.body_timeout + 5
        assert guard.slots.taken == 0


async def test_slow_headers_time_out_and_an_idle_connection_is_closed(
    served: tuple[str, int, asyncio.Event, RequestGuard],
) -> None:
    host, port, _, _ = served
    reader, writer = await _open(host, port, b"GET /v1/queue HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
    status, _ = await _answer_of(reader)
    assert status == 408
    writer.close()
    idle_reader, idle_writer = await _open(host, port, b"")
    assert await asyncio.wait_for(idle_reader.read(), 10) == b""  # closed, nothing said
    idle_writer.close()


async def test_oversized_heads_are_refused_before_the_application(
    served: tuple[str, int, asyncio.Event, RequestGuard],
) -> None:
    host, port, _, _ = served
    async with _client(host, port, key=None) as client:
        long_target = await client.get("/v1/queue?x=" + "a" * 4000)
        assert long_target.status_code == 414
        many_headers = await client.get(
            "/v1/queue", headers={f"x-h{i}": "v" * 100 for i in range(60)}
        )
        assert many_headers.status_code == 431
        assert many_headers.headers["content-type"] == "application/problem+json"
        # A credential longer than any issued is refused unread (and not echoed).
        huge = "A" * 600
        refused = await client.get("/v1/queue", headers={"Authorization": f"Bearer {huge}"})
        assert refused.status_code == 401
        assert huge not in refused.text


async def test_failed_authentications_are_throttled_per_source_and_logged_without_the_credential(
    served: tuple[str, int, asyncio.Event, RequestGuard], caplog: pytest.LogCaptureFixture
) -> None:
    host, port, _, _ = served
    wrong = "pk_test_wrong_" + "w" * 30
    async with _client(host, port, key=wrong) as client:
        statuses = [(await client.get("/v1/queue")).status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429, 429]
    failures = [r for r in caplog.records if r.getMessage() == "authentication failed"]
    assert len(failures) == 5
    assert all(getattr(r, "source", None) == "127.0.0.1" for r in failures)
    assert wrong not in caplog.text
    # Another address is not held back by this one's failures.
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    async with _client(host, port, transport=transport) as client:
        assert (await client.get("/v1/queue")).status_code == 200


async def test_in_flight_limit_counts_authenticated_work_and_readiness_says_when_it_is_full(
    served: tuple[str, int, asyncio.Event, RequestGuard],
) -> None:
    host, port, release, guard = served
    async with _client(host, port, timeout=20) as client:
        held = [asyncio.create_task(client.get("/v1/hold")) for _ in range(LIMITS.max_in_flight)]
        await until(lambda: guard.slots.taken == LIMITS.max_in_flight, what="every slot taken")
        refused = await client.get("/v1/queue")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"

        async def not_ready() -> bool:
            return bool((await client.get("/readyz")).json() == {"capacity": False})

        await eventually(not_ready, timeout=10, what="readiness reports the service full")
        release.set()
        assert {(await task).status_code for task in held} == {200}
        assert (await client.get("/readyz")).json() == {"capacity": True}
        assert (await client.get("/v1/queue")).status_code == 200
