"""The routing casebooks (tests/casebook: the project's own copy of the public cases), as data
for parametrised tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.referrals import apply

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CASEBOOKS = PROJECT_ROOT / "tests" / "casebook"
PUBLIC_CASEBOOK = CASEBOOKS / "public.yaml"
PUBLIC_CASEBOOK_V2 = CASEBOOKS / "public-v2.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    body: dict[str, Any]
    expect: dict[str, Any]


V1 = "2026-11-01.1"
V2 = "2026-12-01.1"


def load(path: Path = PUBLIC_CASEBOOK) -> list[Case]:
    data = yaml.safe_load(path.read_text())
    base = data["base"]
    return [Case(c["id"], apply(base, c.get("set") or {}), c["expect"]) for c in data["cases"]]


def named_version(path: Path) -> str | None:
    """The policy version a casebook names (``policy_version``), if it names one."""
    version: str | None = yaml.safe_load(path.read_text()).get("policy_version")
    return version


def runs(override: str | None = None) -> list[tuple[str, Case]]:
    """Every (policy version, case) the casebooks ask for: the version 1 casebook under
    versions 1 and 2 (version 2 keeps every one of its cases), and each other casebook under
    the version it names. ``override`` (``make casebook VERSION=...``) runs every case under
    that one version instead."""
    found = [
        (version, case)
        for version in ([override] if override else [V1, V2])
        for case in load(PUBLIC_CASEBOOK)
    ]
    named = override or named_version(PUBLIC_CASEBOOK_V2)
    assert named, f"{PUBLIC_CASEBOOK_V2} names no policy_version"
    return found + [(named, case) for case in load(PUBLIC_CASEBOOK_V2)]


def run_id(run: tuple[str, Case]) -> str:
    return f"{run[0]}-{run[1].id}"


def _route_names(routes: list[dict[str, Any]]) -> list[str]:
    return [f"{r['service']}/{r['sub_service']}" for r in routes]


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Exact set match; "SERVICE" alone accepts any sub-service of that service."""
    if len(expected) != len(actual):
        return False
    remaining = list(actual)
    for wanted in expected:
        hit = next((a for a in remaining if a == wanted or a.split("/")[0] == wanted), None)
        if hit is None:
            return False
        remaining.remove(hit)
    return True


def check_expectations(answer: dict[str, Any], expect: dict[str, Any]) -> None:
    """Assert an explain answer (contract shape) meets a casebook case's ``expect``."""
    assert answer["status"] == expect["status"], answer
    if "reason" in expect:
        assert answer["reason"] == expect["reason"], answer
    routes = _route_names(answer["routes"])
    assert _matches(expect.get("routes", []), routes), (expect.get("routes"), routes)
    held = _route_names(answer.get("held_routes") or [])
    assert _matches(expect.get("held_routes", []), held), (expect.get("held_routes"), held)
    for flag in expect.get("flags_include", []):
        assert flag in answer["flags"], (flag, answer["flags"])
    for flag in expect.get("flags_exclude", []):
        assert flag not in answer["flags"], (flag, answer["flags"])
    if "enhanced_rights" in expect:
        assert answer["enhanced_rights"] is expect["enhanced_rights"], answer
    by_service = {r["service"]: r for r in answer["routes"]}
    for service, priority in expect.get("priority", {}).items():
        assert by_service[service]["priority"] == priority, (service, by_service[service])
    for service, basis in expect.get("consent_basis", {}).items():
        assert by_service[service]["consent_basis"] == basis, (service, by_service[service])
