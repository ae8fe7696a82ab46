"""The OpenAPI document as the truth (issue 19): every status an operation can answer, each
error as ``application/problem+json`` with the problem schema (RFC 9457 and the ``errors``
this hub adds), the bearer credential every ``/v1`` operation needs, and no trace of
FastAPI's ``HTTPValidationError`` (a 422 here is a problem, not that shape).

What each operation can answer is worked out from what it is, the same rules the code
follows: the request guard (``services.plumbing.guard``) answers 401, 408, 413, 429 and
503 before any handler on a protected path, and the HTTP protocol 414 and 431 on any path;
an operation with parameters or a body answers 422 when they are invalid; one whose caller
needs a role (``services.plumbing.auth.require_roles``) answers 403; one with a path
parameter 404; a body of JSON that is not, or names a member twice, 422; a body not sent as
JSON, 415 (``services.plumbing.answers.UnsupportedMediaType``). Answers an
operation gives for its own reasons (400 for a cursor, 409, 410) are declared on the route
with ``problems(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

PROBLEM_MEDIA = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457). Never a stack trace, never personal data, never an "
    "identifier the client sent.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "about:blank, or a URI naming the problem"},
        "title": {"type": "string", "description": "The status in words"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What happened, in a sentence"},
        "errors": {
            "type": "array",
            "description": "Each field that is missing or invalid, and what is wrong with it",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string", "examples": ["subject.age"]},
                    "message": {"type": "string"},
                    "rule": {"type": "string", "description": "A code naming the rule broken"},
                },
            },
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "Bad request: a value the API issued (a cursor) is not one it gave out",
    401: "The credential is missing or not valid (WWW-Authenticate says which, RFC 6750)",
    403: "The caller's role may not do this",
    404: "Nothing with that id is available to the caller",
    408: "The request body did not arrive in time",
    409: "The request conflicts with the current state (the detail says why)",
    410: "It is no longer available (consent refused or withdrawn, erased)",
    413: "The request body is too large",
    414: "The request target is too long",
    415: "The body was not sent as JSON (Content-Type: application/json)",
    422: "Some fields are missing or invalid (errors lists them); nothing was stored",
    429: "Too many failed authentications from this address (Retry-After says when)",
    431: "The request headers are too large",
    503: "Unavailable for now (at capacity, or the database unreachable); Retry-After says when",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'Bearer realm="referral-hub", with error="invalid_request" or '
        'error="invalid_token" when a bearer credential was sent (RFC 6750 section 3)',
        "schema": {"type": "string"},
    }
}
HEADERS = {401: WWW_AUTHENTICATE, 429: RETRY_AFTER, 503: RETRY_AFTER}
GUARD_STATUSES = (401, 408, 413, 429, 503)
PROTOCOL_STATUSES = (414, 431)


def problem_response(status: int) -> dict[str, Any]:
    """One documented error answer."""
    answer: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_MEDIA: {"schema": PROBLEM_REF}},
    }
    if status in HEADERS:
        answer["headers"] = HEADERS[status]
    return answer


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's ``responses=``: the errors it answers for its own reasons."""
    return {status: problem_response(status) for status in statuses}


def _needs_a_role(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        call = dependency.call
        if call is not None and getattr(call, "__qualname__", "").startswith("require_roles."):
            return True
        pending.extend(dependency.dependencies)
    return False


def _statuses(route: APIRoute, protected: bool) -> set[int]:
    found = set(PROTOCOL_STATUSES)
    if protected:
        found.update(GUARD_STATUSES)
    dependant = route.dependant
    has_input = bool(
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.body_params
    )
    if has_input or route.body_field is not None:
        found.add(422)
    if getattr(route, "takes_json", False):  # services.plumbing.answers: typed_router
        found.add(415)
    if dependant.path_params:
        found.add(404)
    if protected and _needs_a_role(route):
        found.add(403)
    return found


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, those of included routers too (FastAPI 0.165 keeps an included
    router as one entry; its routes are included without a prefix here)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def truthful_openapi(
    app: FastAPI, protected_prefixes: tuple[str, ...] = ("/v1/", "/internal/")
) -> Callable[[], dict[str, Any]]:
    """The ``app.openapi`` to install: FastAPI's document, made to say what happens."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM_SCHEMA
        schemes = components.setdefault("securitySchemes", {})
        schemes.pop("HTTPBearer", None)
        schemes["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A staff or service token (JWT) on intake; a provider key on a "
            "provider's API.",
        }
        routes = {
            (route.path, method.lower()): route
            for route in api_routes(app.routes)
            if route.include_in_schema
            for method in route.methods or ()
        }
        for path, operations in document.get("paths", {}).items():
            protected = path.startswith(protected_prefixes)
            for method, operation in operations.items():
                route = routes.get((path, method))
                if route is None:
                    continue
                responses = operation.setdefault("responses", {})
                for status in sorted(_statuses(route, protected)):
                    responses.setdefault(str(status), problem_response(status))
                for status, answer in list(responses.items()):
                    if status.isdigit() and int(status) >= 400:
                        content = answer.setdefault("content", {})
                        content.pop("application/json", None)
                        content[PROBLEM_MEDIA] = {"schema": PROBLEM_REF}
                        if int(status) in HEADERS:
                            answer.setdefault("headers", HEADERS[int(status)])
                if protected:
                    operation["security"] = [{"bearer": []}]
                else:
                    operation.pop("security", None)
        app.openapi_schema = document
        return document

    return openapi
