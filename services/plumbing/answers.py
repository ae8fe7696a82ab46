"""``typed_router``: an ``APIRouter`` whose routes answer with exactly the members the
handler gave, typed by their ``response_model`` (``schemas.answers`` says why)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute


class _AnswerRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)


def typed_router() -> APIRouter:
    """An ``APIRouter`` whose routes answer with the members the handler set: an optional
    member of the response model the handler left out is not added as ``null``."""
    return APIRouter(route_class=_AnswerRoute)
