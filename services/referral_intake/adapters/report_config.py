"""What the report reads besides the database: the commissioner's targets
(``reporting/targets.json``) and each service's outcome measures
(``schemas/outcome_measures.json``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from schemas import outcome_measures
from schemas.codes import Service
from services.referral_intake.domain.performance import Target, parse_targets

TARGETS = Path(__file__).resolve().parents[1] / "reporting" / "targets.json"

ENGAGEMENT_MEASURES = frozenset({"engaged"})
"""Reported with the outcome, but counted as engagement rather than as an outcome."""


@cache
def targets(path: Path = TARGETS) -> tuple[Target, ...]:
    try:
        return tuple(parse_targets(json.loads(path.read_text())))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


@cache
def measures_by_service() -> dict[str, tuple[str, ...]]:
    return {
        service.value: tuple(
            name for name in outcome_measures.allowed(service) if name not in ENGAGEMENT_MEASURES
        )
        for service in Service
    }
