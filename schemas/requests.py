"""What every request body the hub accepts shares: ``RequestBody``, the base of every
request model (intake's, the router's, the provider API's), and ``Code``, the shape of a
coded value.

A request body is read as strictly as its published schema says (issue 19: "what the
schema forbids is refused"): unknown members are refused (the contract says 422), no
error repeats what was sent, free text has its surrounding blanks removed and may hold no
control characters, and a boolean, a number or a date is one in JSON: ``0`` is not
``false``, ``"3"`` is not ``3``, and a number is not a date (pydantic's lax mode would take
all three). Here rather than in ``services.plumbing``: intake's referral model is in its
domain, which may import ``schemas`` only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from schemas.text import refuse_control_characters

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""A coded value: lower case, digits and underscores, starting with a letter, at most 64
characters (``safeguarding_concern``). Never free text, so never personal data."""

_JSON_SCALARS = {"bool", "int", "float"}
"""Read strictly: only JSON's own ``true``/``false``, integers and numbers."""
_TEXT_ONLY = {"date", "datetime"}
"""Read from text only (lax mode would read a number as a Unix time)."""


def _text_or_value(value: Any) -> Any:
    if isinstance(value, int | float):
        raise ValueError("must be a string in ISO 8601 form")
    return value


def _as_published(node: Any, wrap: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Make every scalar in a core schema as strict as its JSON schema, in place."""
    if isinstance(node, dict):
        if node.get("type") in _JSON_SCALARS:
            node["strict"] = True
        for key, value in list(node.items()):
            if isinstance(value, dict) and value.get("type") in _TEXT_ONLY:
                node[key] = wrap(value)
            _as_published(value, wrap)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, dict) and value.get("type") in _TEXT_ONLY:
                node[index] = wrap(value)
            _as_published(value, wrap)


def _text_only(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(core_schema.no_info_before_validator_function(_text_or_value, schema))


PLAIN_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
"""Free text in the published schema: no control character but tab, line feed and
carriage return (``schemas.text.refuse_control_characters``)."""
_SHAPED = ("pattern", "format", "enum", "const", "$ref")


def _plain_text_published(node: Any) -> None:
    """Give every free-text string in a JSON schema the ``PLAIN_TEXT`` pattern, in place."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not any(key in node for key in _SHAPED):
            node["pattern"] = PLAIN_TEXT
        for key in ("anyOf", "oneOf", "allOf"):
            for part in node.get(key, []):
                _plain_text_published(part)
        _plain_text_published(node.get("items"))
        _plain_text_published(node.get("additionalProperties"))


class RequestBody(BaseModel):
    """The base of every request model: strict as described above."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, str_strip_whitespace=True)

    _plain_text = field_validator("*", mode="after")(refuse_control_characters)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # A copy: the schemas of models it nests (events' fact models) stay as they are.
        schema = copy.deepcopy(handler(source))
        _as_published(schema, _text_only)
        return schema

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        published = handler(schema)
        for prop in handler.resolve_ref_schema(published).get("properties", {}).values():
            _plain_text_published(prop)
        return published
