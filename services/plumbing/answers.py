"""``typed_router``: an ``APIRouter`` whose routes answer with exactly the members the
handler gave, typed by their ``response_model`` (``schemas.answers`` says why), and refuse
a query parameter they do not declare."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from schemas.refusals import Invalid, Refused
from services.plumbing.http import is_json


class _AnswerRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)
        self.known_query = frozenset(_query_names(self.dependant))
        self.takes_json = self.body_field is not None and not isinstance(
            self.body_field.field_info, params.Form
        )


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


class UnknownQueryParameter(Invalid):
    """A query parameter the operation does not declare: refused as a body member it does
    not name is (``extra="forbid"``), so that a misspelt filter (``?stauts=open``) is not
    silently ignored. The name is not repeated: it is the caller's input."""

    says = "A query parameter is not one this operation takes; see its OpenAPI description."
    field = "(query)"


async def _known_query_only(request: Request) -> None:
    route = request.scope.get("route")
    if isinstance(route, _AnswerRoute) and not route.known_query.issuperset(
        request.query_params.keys()
    ):
        raise UnknownQueryParameter


class UnsupportedMediaType(Refused):
    """A body sent as something other than JSON (``text/plain``, a form, or no
    ``Content-Type`` at all) to an operation that takes JSON: 415 (RFC 9110 15.5.16), saying
    which media type is expected, rather than a complaint about the body's shape. Without a
    ``Content-Type`` the body is not guessed at: FastAPI would not read it as JSON either, and
    a client that names its media type is one whose bodies mean one thing."""

    status = 415
    title = "Unsupported media type"
    says = (
        "This operation takes a JSON body: send it with Content-Type: application/json. "
        "Nothing was stored."
    )

    @property
    def extra(self) -> dict[str, Any]:
        return {"accept": ["application/json"]}


async def _json_body_only(request: Request) -> None:
    route = request.scope.get("route")
    if not (isinstance(route, _AnswerRoute) and route.takes_json):
        return
    content_type = request.headers.get("content-type")
    named = content_type.encode("latin-1") if content_type is not None else None
    if not is_json(named) and await request.body():
        raise UnsupportedMediaType


def typed_router() -> APIRouter:
    """An ``APIRouter`` whose routes answer with the members the handler set (an optional
    member of the response model the handler left out is not added as ``null``), answer
    422 to a query parameter they do not declare, and 415 to a body that is not sent as
    JSON to an operation that takes one."""
    return APIRouter(
        route_class=_AnswerRoute,
        dependencies=[Depends(_known_query_only), Depends(_json_body_only)],
    )
