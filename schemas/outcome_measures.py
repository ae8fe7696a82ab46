"""The outcome measures each service reports (``outcome_measures.json``), and a check that
names every measure or value a provider got wrong."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from schemas.codes import Service

MEASURES = Path(__file__).with_name("outcome_measures.json")


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MEASURES.read_text())
    return data


def allowed(service: Service) -> dict[str, str | list[str]]:
    """Measure name -> "bool" or the list of allowed codes."""
    data = _data()
    spec: dict[str, str] = data["services"][service.value]
    return {name: data["scales"].get(kind, kind) for name, kind in spec.items()}


def most_measures() -> int:
    """The most measures any service reports: the bound on an outcome's ``measures``."""
    return max(len(spec) for spec in _data()["services"].values())


def problems(service: Service, measures: dict[str, Any]) -> list[dict[str, str]]:
    """One entry per measure that is unknown for ``service`` or has a value it cannot take."""
    spec = allowed(service)
    found = []
    for name, value in measures.items():
        kind = spec.get(name)
        if kind is None:
            found.append(
                {
                    "field": f"measures.{name}",
                    "message": f"not an outcome measure for {service.value}; "
                    f"expected one of {', '.join(sorted(spec))}",
                }
            )
        elif value is None:
            continue
        elif kind == "bool" and not isinstance(value, bool):
            found.append({"field": f"measures.{name}", "message": "must be true or false"})
        elif isinstance(kind, list) and value not in kind:
            found.append(
                {"field": f"measures.{name}", "message": f"must be one of {', '.join(kind)}"}
            )
    return found


def json_schema(service: Service) -> dict[str, Any]:
    """``problems``' rule as JSON Schema: the measures ``service`` reports, each ``true`` or
    ``false`` or one of its scale's codes, or ``null`` (not known); no other member. For the
    published request schema of ``service``'s outcome (issue 19)."""
    properties: dict[str, Any] = {
        name: {"type": ["boolean", "null"]}
        if kind == "bool"
        else {"enum": [*kind, None], "type": ["string", "null"]}
        for name, kind in allowed(service).items()
    }
    return {
        "type": "object",
        "description": f"The outcome measures {service.value} reports (any may be left out): "
        "true or false, or a code of the measure's scale; null when not known.",
        "properties": properties,
        "additionalProperties": False,
        "default": {},
    }
