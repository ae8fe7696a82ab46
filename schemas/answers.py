"""What every JSON answer of the hub's APIs shares: ``Answer``, the base of every response
model, and ``Moment``, a point in time as the hub writes it.

A response model types the answer in the OpenAPI document (issue 17: FastAPI's full-stack
template, ``response_model`` on every route; issue 19: "typed response models") without
changing a byte of it: a member the handler left out stays out (the routes of
``services.plumbing.answers.typed_router`` answer with the members set, so an optional
member is never added as ``null``), one it gave as ``null`` stays ``null``, and a member
the model does not name still goes out (``extra="allow"``: an answer may gain members, as
the contract allows, never lose one). ``Moment`` keeps the text the handler wrote
(``datetime.isoformat``) rather than pydantic's own rendering (``Z`` for UTC). Here in
``schemas``: the router's answers that intake relays are typed once, for both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema


def _as_written(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


Moment = Annotated[
    str,
    BeforeValidator(_as_written),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A point in time, ISO 8601 with its offset (``2026-11-30T16:02:07.123456+00:00``)."""


class Answer(BaseModel):
    """The base of every response model (see the module's docstring)."""

    model_config = ConfigDict(extra="allow")
