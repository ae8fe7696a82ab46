"""``typed_router``: an ``APIRouter`` whose routes answer with exactly the members the
handler gave, typed by their ``response_model`` (``schemas.answers`` says why), and refuse
a query parameter they do not declare."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from schemas.refusals import Invalid


class _AnswerRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)
        self.known_query = frozenset(_query_names(self.dependant))


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


def typed_router() -> APIRouter:
    """An ``APIRouter`` whose routes answer with the members the handler set (an optional
    member of the response model the handler left out is not added as ``null``) and answer
    422 to a query parameter they do not declare."""
    return APIRouter(route_class=_AnswerRoute, dependencies=[Depends(_known_query_only)])
