"""Minimum necessary data: a work item carries only the coded facts and the flags its
service's data-sharing agreement lists (``schemas/data_sharing.json``). Contact details never
travel in a work item at all."""

from __future__ import annotations

from typing import Any

from schemas import data_sharing
from schemas.codes import Service
from schemas.events import ReferralFacts


def work_item_facts(facts: ReferralFacts, service: Service) -> dict[str, Any]:
    return data_sharing.select(facts.model_dump(mode="json"), data_sharing.work_item_facts(service))


def work_item_flags(flags: tuple[str, ...], service: Service) -> list[str]:
    """The decision's flags this service's provider is told, in the decision's order."""
    allowed = set(data_sharing.work_item_flags(service))
    return [f for f in flags if f in allowed]
