"""What every request body the hub accepts shares: ``RequestBody``, the base of every
request model (intake's, the router's, the provider API's), and ``Code``, the shape of a
coded value.

A request body is read as strictly as its published schema says (issue 19: "what the
schema forbids is refused"): unknown members are refused (the contract says 422), no
error repeats what was sent, free text has its surrounding blanks removed and may hold no
control characters, and a boolean, a number or a date is one in JSON: ``0`` is not
``false``, ``"3"`` is not ``3``, and a number is not a date (pydantic's lax mode would take
all three); a whole number written ``3.0`` is the integer 3, as JSON Schema says. Here
rather than in ``services.plumbing``: intake's referral model is in its
domain, which may import ``schemas`` only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

from schemas.text import refuse_control_characters

CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Code = Annotated[str, Field(pattern=CODE_PATTERN)]
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
    """Make every scalar in a core schema as strict as its JSON schema, in place; ``wrap``
    replaces each date, datetime and union schema (``_wrapped``)."""
    if isinstance(node, dict):
        if node.get("type") in _JSON_SCALARS:
            node["strict"] = True
        for key, value in list(node.items()):
            if isinstance(value, dict):
                node[key] = _read_as_published(value, wrap)
            _as_published(value, wrap)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, dict):
                node[index] = _read_as_published(value, wrap)
            _as_published(value, wrap)


def _read_as_published(
    schema: dict[str, Any], wrap: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    if schema.get("type") in _WRAPPED:
        return wrap(schema)
    if schema.get("type") == "int":
        return _whole_number(schema)
    return schema


_WRAPPED = _TEXT_ONLY | {"union"}


def _wrapped(schema: dict[str, Any]) -> dict[str, Any]:
    if schema["type"] == "union":
        return dict(core_schema.no_info_wrap_validator_function(_one_error(schema), schema))
    return dict(core_schema.no_info_before_validator_function(_text_or_value, schema))


def _one_error(union: dict[str, Any]) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    """A union's errors as one, in plain words, at the union's own place: pydantic names
    each member it tried (``measures.x.bool``, ``measures.x.constrained-str``), names that
    mean nothing to a client."""
    expected = _either([_expected(choice) for choice in union.get("choices", [])])

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(
                "union_type", "must be {expected}", {"expected": expected}
            ) from None

    return validate


_EXPECTED = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "none": "null",
    "list": "a list",
    "dict": "an object",
    "model": "an object",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date and time with its offset (ISO 8601)",
}


def _expected(choice: Any) -> str:
    """What a union member takes, in words (a member may be ``(schema, label)``)."""
    schema = choice[0] if isinstance(choice, tuple) else choice
    if schema.get("type") == "str" and schema.get("pattern") == CODE_PATTERN:
        return "a code (lower case letters, digits and underscores, starting with a letter)"
    if schema.get("type") == "literal":
        return "one of " + ", ".join(str(v) for v in schema.get("expected", []))
    return _EXPECTED.get(schema.get("type", ""), "a value of another kind")


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + ", or " + words[-1]


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _whole_number(schema: dict[str, Any]) -> dict[str, Any]:
    # JSON Schema's "integer" is any number without a fraction (2020-12, section 6.1.1):
    # 3.0 is one, as the published schema says; 3.5, "3" and true are not.
    return dict(core_schema.no_info_before_validator_function(_integral, schema))


CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f"
"""The control characters text may not hold (all but tab, line feed and carriage return:
``schemas.text.refuse_control_characters``), as a regular expression class's body."""
BLANKS = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What the API reads as blank (Unicode White_Space: what ``str_strip_whitespace`` removes
and a backslash-s matches in a pydantic pattern), spelled out: a backslash-s in a published
pattern would be ECMA-262's, which leaves out U+0085 and takes in U+FEFF."""
_TEXT = rf"[^{CONTROL}]"
_SOLID_TEXT = rf"[^{BLANKS}{CONTROL}]"
PLAIN_TEXT = rf"^{_TEXT}*$"
"""Free text in the published schema: no control character. A string with a ``format``
(``email``, ``uri``, ``date-time``) has it beside the format: a format says nothing of
control characters, and JSON Schema 2020-12 only annotates it."""
_SHAPED = ("pattern", "enum", "const", "$ref")


def stripped_pattern(allowed: str, solid: str, min_length: int) -> str:
    """A pattern for text of ``allowed`` characters that is at least ``min_length`` long
    once the blanks around it are removed (``str_strip_whitespace``), as the API counts:
    two ``solid`` (not blank) characters at least ``min_length - 1`` apart, or one."""
    if min_length <= 0:
        return rf"^{allowed}*$"
    if min_length == 1:
        return rf"^{allowed}*{solid}{allowed}*$"
    return rf"^{allowed}*{solid}{allowed}{{{min_length - 2},}}{solid}{allowed}*$"


def _plain_text_published(node: Any) -> None:
    """Give every free-text or formatted string in a JSON schema the ``PLAIN_TEXT`` pattern
    (one with a pattern of its own states the rule in it), in place; one with a
    ``minLength`` is that long without the blanks around it."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not any(key in node for key in _SHAPED):
            node["pattern"] = stripped_pattern(_TEXT, _SOLID_TEXT, node.get("minLength", 0))
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
        _as_published(schema, _wrapped)
        return schema

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        published = handler(schema)
        for prop in handler.resolve_ref_schema(published).get("properties", {}).values():
            _plain_text_published(prop)
        return published


Item = TypeVar("Item", bound=Hashable)


def _each_once(items: list[Item]) -> list[Item]:
    return list(dict.fromkeys(items))


EACH_ONCE = AfterValidator(_each_once)
"""For a list that is a set of codes (``needs``, ``crime_types``): a code given twice is kept
once, in the order first given. A duplicate tick has one meaning, so refusing it would make
a triage worker key the referral again while the person waits, for nothing; what is stored
and published holds each code once, so the router, reports and the comparison of a second
submission see a set. The list's ``max_length`` (the number of codes) is checked on what
was sent, before duplicates are folded."""


def field_errors(*errors: tuple[Sequence[str | int], str]) -> ValidationError:
    """For a rule across fields (a ``model_validator``): a validation error at each field
    named (``(("subject", "date_of_birth"), "is after ...")``, the place relative to the
    model, as pydantic's own errors are), rather than at the model as a whole (``(body)``).
    Raise it; the value is never repeated."""
    return ValidationError.from_exception_data(
        "rule across fields",
        [
            InitErrorDetails(
                type=PydanticCustomError("rule_across_fields", message),
                loc=tuple(place),
                input=None,
            )
            for place, message in errors
        ],
    )
