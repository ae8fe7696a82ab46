"""What every service's HTTP side shares: problem+json errors that never echo input or a
stack trace, health and readiness checks, Prometheus metrics, request latency, and a runner
that shuts down gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn._compat import asyncio_run

from schemas import asyncapi
from schemas.refusals import NotFound, Refused
from schemas.topics import REQUEST_EVENT_MAX_BYTES
from services.plumbing import outbox, strict_json
from services.plumbing.db import CONNECTION_ERRORS
from services.plumbing.guard import HttpLimits, guarded_protocol
from services.plumbing.metrics import HTTP_LATENCY
from services.plumbing.openapi import api_routes

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

ReadinessCheck = Callable[[], Awaitable[bool]]


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    type_: str = "about:blank",
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """An ``application/problem+json`` answer (RFC 9457); ``extra`` adds extension members
    (codes and counts only: never anything the client sent)."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


_KEY = "[key]"
"""Where pydantic puts a map's key it refused: after the key itself, which is input."""


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if _KEY in parts:
        # The map, not the key: a key is the client's, and may be anything (a name).
        parts = parts[: max(parts.index(_KEY) - 1, 0)]
    return ".".join(parts) or "(body)"


_A_UUID = "must be a UUID (32 hexadecimal digits in groups of 8-4-4-4-12)"
_PLAIN = {"uuid_parsing": _A_UUID, "uuid_type": _A_UUID, "uuid_version": _A_UUID}
"""Messages of pydantic's that quote the value (a UUID's: "found `x` at 1"), in words that
do not: no part of a path, query or body value is repeated back."""


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Field names and what is wrong with them; never the submitted value (``input``/``ctx``)."""
    described = []
    for error in errors:
        kind = error.get("type")
        if kind == "json_invalid":
            described.append({"field": "(body)", "message": "The body is not valid JSON."})
        else:
            loc = tuple(error.get("loc", ()))
            field = _field(loc)
            # pydantic prefixes a validator's own sentence with "Value error, ": the sentence
            # is the message.
            message = _PLAIN.get(str(kind)) or str(error.get("msg", "invalid")).removeprefix(
                "Value error, "
            )
            if _KEY in loc:
                message = f"a member's name is not allowed: {message}"
            described.append({"field": field, "message": message})
    return described


def request_field(event_path: str) -> str:
    """A request's field from its path in the event it causes: the events carry a referral's
    coded facts under ``facts``, under the names the request gives them."""
    return event_path.removeprefix("facts.")


class HttpMiddleware:
    """Plain ASGI middleware that acts on HTTP requests only (``handle``) and passes
    anything else (the lifespan, which starts the consumers) straight on. Not Starlette's
    ``BaseHTTPMiddleware``: that costs a task and a streamed copy of every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class EventLimit(HttpMiddleware):
    """While a request is handled, the outbox takes events up to ``REQUEST_EVENT_MAX_BYTES``
    only (``outbox.request_limit``): a request that would cause a larger one is refused 413
    (``install_error_handlers``), before anything is stored, rather than leave the next
    service an event it cannot pass on."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = outbox.request_limit.set(REQUEST_EVENT_MAX_BYTES)
        try:
            await self.app(scope, receive, send)
        finally:
            outbox.request_limit.reset(token)


_TITLES = {
    400: "Bad request",
    401: "Unauthorised",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    503: "Service unavailable",
}


def methods_of(app: FastAPI, path: str) -> list[str]:
    """The methods the API's routes answer on ``path``, sorted."""
    found: set[str] = set()
    for route in api_routes(app.routes):
        if route.path_regex.match(path):
            found.update(route.methods or ())
    return sorted(found)


NOT_FOUND = "Nothing with that id is available to you."


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(
        422,
        "Invalid request",
        "Some fields are missing or invalid; nothing was stored.",
        errors=validation_errors(list(exc.errors())),
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        # Every method the path has (Starlette names only the first route's): the
        # worklist's GET and the submission's POST are one resource (RFC 9110 15.5.6).
        allowed = methods_of(request.app, request.url.path)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem(
        exc.status_code, _TITLES.get(exc.status_code, "Error"), detail, headers=headers or None
    )


async def _on_refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return problem(exc.status, exc.title, exc.sentence, errors=exc.errors, extra=exc.extra)


async def _on_event_too_large(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, outbox.EventTooLarge)
    return problem(
        413,
        _TITLES[413],
        f"The event this request would cause is {exc.size} bytes; the hub passes on "
        f"events of at most {exc.limit} bytes. Nothing was stored.",
        errors=[
            {"field": request_field(path), "message": "Too large to pass on: shorten it."}
            for path in exc.fields
        ],
        extra={"size": exc.size, "limit": exc.limit},
    )


async def _on_database_down(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unreachable", extra={"error": type(exc).__name__})
    return problem(
        503,
        "Service unavailable",
        "The database is unreachable; nothing was stored. Try again shortly.",
        headers={"Retry-After": "5"},
    )


async def _on_response_invalid(_: Request, exc: Exception) -> JSONResponse:
    # Where in the answer, never what: the answer may hold personal data.
    assert isinstance(exc, ResponseValidationError)
    log.error(
        "answer does not match its response model",
        extra={"error": type(exc).__name__, "fields": [_field(e["loc"]) for e in exc.errors()]},
    )
    return problem(
        500,
        "Internal error",
        "Something went wrong giving the answer; the request may have been carried out: "
        "read it back before trying again.",
    )


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", extra={"error": type(exc).__name__})
    return problem(500, "Internal error", "Something went wrong; nothing was stored.")


def install_error_handlers(app: FastAPI, not_found: str = NOT_FOUND) -> None:
    """Every error a request can meet, as ``application/problem+json``: invalid input (422,
    naming the fields), ``NotFound`` (404, its sentence or ``not_found``), ``Refused`` (its
    status, title and sentence), an event too large to pass on (413), the database down
    (503) and anything unexpected (500, logged by class name only). No route catches
    ``NotFound`` or ``Refused`` itself."""

    async def on_not_found(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NotFound)
        return problem(404, _TITLES[404], exc.sentence or not_found)

    handlers: dict[type[Exception], Any] = {
        RequestValidationError: _on_validation,
        StarletteHTTPException: _on_http,
        NotFound: on_not_found,
        Refused: _on_refused,
        outbox.EventTooLarge: _on_event_too_large,
        # Handled here, so that the server never logs the answer the model refused.
        ResponseValidationError: _on_response_invalid,
        # Per class, so that the exception stops here as a handled 503 (a handler for
        # Exception would answer, then let the server log the exception all the same).
        **dict.fromkeys(CONNECTION_ERRORS, _on_database_down),
        Exception: _on_unexpected,
    }
    for error, handler in handlers.items():
        app.add_exception_handler(error, handler)


def install_operational_routes(
    app: FastAPI,
    checks: dict[str, ReadinessCheck],
    info: Callable[[], dict[str, Any]] | None = None,
    *,
    with_metrics: bool = True,
) -> None:
    """``/healthz`` (process up), ``/readyz`` (dependencies reachable, and room for real
    requests), ``/metrics`` (unless ``with_metrics`` is false: served on the operations
    port instead)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results = {name: await check() for name, check in checks.items()}
        ready = all(results.values())
        body: dict[str, Any] = {
            "status": "ready" if ready else "not_ready",
            "checks": {k: "ok" if v else "failing" for k, v in results.items()},
        }
        if info is not None:
            body.update(info())
        return JSONResponse(body, status_code=200 if ready else 503)

    if with_metrics:

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestLatency)


def operations_app(
    api: FastAPI,
    checks: dict[str, ReadinessCheck],
    info: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """The operations port's app: ``/metrics``, the API's ``/docs`` and ``/openapi.json``,
    and the same ``/healthz`` and ``/readyz``. It serves no API call and holds no data."""
    ops = FastAPI(title=f"{api.title} (operations)", openapi_url=None, docs_url=None)

    @ops.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(api.openapi())

    install_asyncapi(ops)

    install_docs(ops, api.title)

    install_operational_routes(ops, checks, info)
    ops.add_middleware(SecurityHeaders)
    return ops


DOCS_ASSETS = Path(__file__).parent / "static" / "build"
"""Swagger UI from swagger-ui-dist (package-lock.json), put here by ``npm run build``."""
_DOCS_MEDIA = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "docs.mjs": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: API documentation</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<main id="swagger-ui" data-openapi="/openapi.json"></main>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.mjs"></script>
</body>
</html>
"""


def install_docs(app: FastAPI, title: str) -> None:
    """``/docs``: Swagger UI served by the service itself (never a CDN: the page works on a
    closed network), its assets from the pinned ``swagger-ui-dist``, under a content
    security policy that lets the page load only them and ``/openapi.json``."""
    page = _DOCS_PAGE.format(title=html.escape(title))
    headers = {"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media = _DOCS_MEDIA.get(name)
        path = DOCS_ASSETS / name
        if media is None or not path.is_file():
            return problem(404, "Not found", "No such file.")
        return Response(
            path.read_bytes(),
            media_type=media,
            headers={**headers, "Cache-Control": "public, max-age=3600"},
        )


def install_asyncapi(app: FastAPI) -> None:
    """``/asyncapi.json``: the bus's AsyncAPI 3.0 document (``schemas.asyncapi``), beside
    ``/openapi.json``: every service serves the whole bus's, which is one contract."""
    document = asyncapi.document()

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(document)


class RequestLatency(HttpMiddleware):
    """Observes each request's latency by route template (``/v1/referrals/{referral_id}``,
    never the concrete path), method and status."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    # Answers may hold personal data: no browser or proxy keeps a copy.
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
API_CONTENT_SECURITY_POLICY = (
    b"content-security-policy",
    b"default-src 'none'; frame-ancestors 'none'",
)
DOCS_PATHS = ("/docs", "/openapi.json", "/asyncapi.json")


class SecurityHeaders(HttpMiddleware):
    """Headers every answer carries. The API serves JSON only, so its content security
    policy allows nothing; the interactive docs page needs its scripts, so it is spared."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = list(SECURITY_HEADERS)
        if not str(scope.get("path", "")).startswith(DOCS_PATHS):
            extra.append(API_CONTENT_SECURITY_POLICY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in extra if name not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_json(content_type: bytes | None) -> bool:
    """As FastAPI (``strict_content_type``, its default) decides whether to read a body as
    JSON: ``application/json`` or ``application/<anything>+json``; without a content type,
    not (``services.plumbing.answers.UnsupportedMediaType``)."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class StrictJson:
    """Refuses a JSON request body that names a member twice in one object (422, naming
    each such member's path), before any handler sees it: what such a body means depends
    on which parser reads it (``services.plumbing.strict_json``). A body that is not JSON
    at all (``NaN`` included) gets the answer a route gives for one. Sits inside the
    request guard (``services.plumbing.guard``), which has checked the credentials and read
    the body within its deadline and size limit first: a client without credentials never
    has its body parsed, and the body held here is never over the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if not is_json(dict(scope.get("headers") or []).get(b"content-type")):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            held.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            try:
                strict_json.check(body)
            except strict_json.DuplicateMembers as exc:
                response = problem(
                    422,
                    "Invalid request",
                    "A member appears more than once in one JSON object, so what the body "
                    "means would depend on which one a parser keeps; nothing was stored. "
                    "Send each member once.",
                    errors=[
                        {"field": path, "message": "appears more than once in its object"}
                        for path in exc.paths
                    ],
                )
                await response(scope, receive, send)
                return
            except strict_json.NotJson:
                response = problem(
                    422,
                    "Invalid request",
                    "Some fields are missing or invalid; nothing was stored.",
                    errors=[{"field": "(body)", "message": "The body is not valid JSON."}],
                )
                await response(scope, receive, send)
                return

        async def replay() -> Message:
            return held.pop(0) if held else await receive()

        await self.app(scope, replay, send)


def serve(
    app: FastAPI,
    host: str,
    port: int,
    *,
    limits: HttpLimits | None = None,
    trusted_proxies: list[str] | None = None,
    ops_app: FastAPI | None = None,
    ops_host: str | None = None,
    ops_port: int | None = None,
) -> None:
    """Run until SIGTERM or SIGINT; in-flight requests and consumers get 15 seconds to finish.

    On uvloop (libuv's event loop, in C) and httptools (the C HTTP parser Node.js uses)
    rather than asyncio's own loop and the pure-Python h11 parser: both are named, not left
    to uvicorn's "auto", so that a missing one fails at start instead of silently costing
    CPU (docs/performance.md has what each saves). The httptools protocol is uvicorn's with
    a deadline and a size limit on each request's head (``guard.guarded_protocol``).

    With ``ops_app`` and ``ops_port``, the operational endpoints (metrics, API docs) are
    served there, in the same process and event loop, and stop with the API."""
    limits = limits or HttpLimits()

    def config(target: FastAPI, bind: str, on: int, lifespan: str) -> uvicorn.Config:
        return uvicorn.Config(
            target,
            host=bind,
            port=on,
            loop="uvloop",
            http=guarded_protocol(limits),
            lifespan=lifespan,  # type: ignore[arg-type]
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=15,
            server_header=False,
            # X-Forwarded-For is believed only from the proxies named (uvicorn trusts
            # 127.0.0.1 by default, which would let anyone on the host choose its address).
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=list(trusted_proxies or []) or None,
        )

    main = uvicorn.Server(config(app, host, port, "on"))
    if ops_app is None or ops_port is None:
        main.run()
        return
    ops = _FollowingServer(config(ops_app, ops_host or host, ops_port, "off"))

    async def both() -> None:
        ops_task = asyncio.create_task(ops.serve())
        try:
            await main.serve()
        finally:
            ops.should_exit = True
            await ops_task

    asyncio_run(both(), loop_factory=main.config.get_loop_factory())


class _FollowingServer(uvicorn.Server):
    """A second server in the same process: the first one takes the signals and this one
    stops when it does (two servers capturing signals would take them from each other)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
