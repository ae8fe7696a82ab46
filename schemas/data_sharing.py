"""The data-sharing agreement per service (``data_sharing.json``): which coded facts and which
of the decision's flags its work items carry, and which contact fields its provider may read.
The router builds work items from it, each adapter refuses anything outside it, and intake's
vault discloses by it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from schemas.codes import Service

AGREEMENT = Path(__file__).with_name("data_sharing.json")


@cache
def _agreement() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(AGREEMENT.read_text())["services"]
    missing = {s.value for s in Service} - set(data)
    if missing:
        raise ValueError(f"{AGREEMENT}: no entry for {', '.join(sorted(missing))}")
    return data


def work_item_facts(service: Service) -> tuple[str, ...]:
    return tuple(_agreement()[service.value]["work_item_facts"])


def work_item_flags(service: Service) -> tuple[str, ...]:
    return tuple(_agreement()[service.value]["work_item_flags"])


def contact_fields(service: Service) -> tuple[str, ...]:
    return tuple(_agreement()[service.value]["contact_fields"])


def select(facts: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """The values at ``paths`` (dotted) in ``facts``, keyed by path; nothing else."""
    chosen: dict[str, Any] = {}
    for path in paths:
        value: Any = facts
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        chosen[path] = value
    return chosen
