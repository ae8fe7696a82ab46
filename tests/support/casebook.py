"""The routing casebook in ../shared/casebook, as data for parametrised tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.referrals import apply

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SHARED_DIR", PROJECT_ROOT.parent / "shared"))
PUBLIC_CASEBOOK = SHARED / "casebook" / "public.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    body: dict[str, Any]
    expect: dict[str, Any]


def load(path: Path = PUBLIC_CASEBOOK) -> list[Case]:
    data = yaml.safe_load(path.read_text())
    base = data["base"]
    return [Case(c["id"], apply(base, c.get("set") or {}), c["expect"]) for c in data["cases"]]
