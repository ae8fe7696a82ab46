"""A policy version: its manifest (id, dates, status, parameters) and its decision graph."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

VERSION_PATTERN = r"^\d{4}-\d{2}-\d{2}\.\d+$"

ParameterValue = int | float | bool | str | list[str]


class Status(StrEnum):
    ACTIVE = "active"
    """In force from ``effective_from`` until a later active version takes over."""
    CANDIDATE = "candidate"
    """Never applied to live referrals; for explain and simulation by name."""
    RETIRED = "retired"
    """Kept so that past decisions can be explained; never applied again."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)

    version: str = Field(pattern=VERSION_PATTERN)
    effective_from: date
    status: Status
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    graph: str = "routing.jdm.json"
    """Decides a referral: routes, held routes, status, priorities, clocks, flags."""
    adjustments: str = "adjustments.jdm.json"
    """Decides a change after routing: re-routing a rejected or twice-breached route, and
    the clocks of a route a supervisor adds."""
    parameters: dict[str, ParameterValue]


@dataclass(frozen=True)
class PolicyVersion:
    manifest: Manifest
    graph: dict[str, Any]
    graph_file: str
    """Where the graph came from, for error messages."""
    adjustments: dict[str, Any]
    adjustments_file: str

    @property
    def version(self) -> str:
        return self.manifest.version

    def sort_key(self) -> tuple[date, int]:
        return self.manifest.effective_from, int(self.version.rsplit(".", 1)[1])


def is_version_id(text: str) -> bool:
    return re.fullmatch(VERSION_PATTERN, text) is not None
