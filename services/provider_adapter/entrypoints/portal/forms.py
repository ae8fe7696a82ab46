"""Form errors as the GOV.UK error summary and error messages want them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData


@dataclass
class Problems:
    """Each field's first problem, in the order found; ``summary`` links to the fields."""

    fields: dict[str, str] = field(default_factory=dict)
    anchors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str, anchor: str | None = None) -> None:
        if name not in self.fields:
            self.fields[name] = message
            self.anchors[name] = anchor or name

    def __bool__(self) -> bool:
        return bool(self.fields)

    @property
    def summary(self) -> list[dict[str, str]]:
        return [{"text": m, "href": f"#{self.anchors[n]}"} for n, m in self.fields.items()]

    def context(self) -> dict[str, Any]:
        return {"errors": self.summary, "field_errors": self.fields}

    def take(
        self, error: ValidationError, fields: dict[str, str], anchors: dict[str, str] | None = None
    ) -> None:
        """A model's validation errors, each under the form field it came from (``fields``
        maps the model's field to the form's sentence for it; a model-level error goes to
        the first field)."""
        anchors = anchors or {}
        first = next(iter(fields))
        for item in error.errors():
            loc = str(item["loc"][0]) if item["loc"] else first
            name = loc if loc in fields else first
            self.add(name, fields[name], anchors.get(name))


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


NO_ERRORS: dict[str, Any] = {"errors": [], "field_errors": {}}
