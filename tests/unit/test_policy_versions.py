"""Policy versions: which is in force, and what stops a bad one from being used."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.router.adapters.policy_files import POLICY_DIR, load_book
from services.router.domain.policy.book import NoPolicyInForce, UnknownPolicyVersion
from services.router.domain.policy.validation import PolicyInvalid

V1 = "2026-11-01.1"
V2 = "2026-12-01.1"
PILOT = "2027-04-01.1"


def test_version_in_force_is_the_latest_active_one_already_effective() -> None:
    book = load_book()
    assert book.in_force(date(2026, 11, 1)).id == V1
    assert book.in_force(date(2026, 11, 30)).id == V1
    assert book.in_force(date(2026, 12, 1)).id == V2
    assert book.in_force(date(2027, 6, 1)).id == V2  # the pilot is a candidate: never in force
    with pytest.raises(NoPolicyInForce):
        book.in_force(date(2026, 10, 31))


def test_a_candidate_is_compared_with_the_version_in_force_or_the_one_it_replaced() -> None:
    book = load_book()
    assert book.replaced_by(book.get(PILOT), date(2027, 1, 5)).id == V2
    assert book.replaced_by(book.get(V2), date(2026, 11, 20)).id == V1  # not yet in force
    assert book.replaced_by(book.get(V2), date(2027, 1, 5)).id == V1  # in force: what it replaced
    with pytest.raises(NoPolicyInForce):
        book.replaced_by(book.get(V1), date(2026, 11, 20))  # nothing came before version 1


def test_the_pilot_is_version_2_with_climb_for_every_age() -> None:
    """A candidate built on the version it would follow, so that deploying it changes only
    what it says it changes (here: CLIMB's minimum age), never undoing version 2."""
    book = load_book()
    pilot, v2 = book.get(PILOT).version, book.get(V2).version
    assert pilot.graph == v2.graph
    assert pilot.adjustments == v2.adjustments
    changed = {
        name
        for name in pilot.manifest.parameters.keys() | v2.manifest.parameters.keys()
        if pilot.manifest.parameters.get(name) != v2.manifest.parameters.get(name)
    }
    assert changed == {"climb_min_age"}


def test_older_and_candidate_versions_stay_loadable_by_name() -> None:
    book = load_book()
    assert book.get(PILOT).version.manifest.parameters["climb_min_age"] == 0
    with pytest.raises(UnknownPolicyVersion):
        book.get("1999-01-01.1")


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    shutil.copytree(POLICY_DIR / V1, tmp_path / V1)
    return tmp_path


def _edit(path: Path, edit: Any) -> Path:
    """Applies ``edit`` to the JSON document at ``path``, in place."""
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    return path


def _edit_graph(root: Path, edit: Any) -> Path:
    return _edit(root / V1 / "routing.jdm.json", edit)


def _edit_manifest(root: Path, edit: Any) -> Path:
    return _edit(root / V1 / "manifest.json", edit)


def _refusal(root: Path) -> str:
    """Why ``load_book`` refuses the book at ``root`` (the test fails if it loads)."""
    with pytest.raises(PolicyInvalid) as caught:
        load_book(root)
    return str(caught.value)


def _table(graph: dict[str, Any], node_id: str) -> dict[str, Any]:
    content: dict[str, Any] = next(n for n in graph["nodes"] if n["id"] == node_id)["content"]
    return content


def _rule(graph: dict[str, Any], node_id: str, rule_id: str) -> dict[str, Any]:
    return next(r for r in _table(graph, node_id)["rules"] if r["_id"] == rule_id)


def test_a_copy_of_version_1_loads(policy_copy: Path) -> None:
    assert load_book(policy_copy).in_force(date(2026, 11, 21)).id == V1


def test_unknown_service_is_named_with_file_and_rule(policy_copy: Path) -> None:
    path = _edit_graph(
        policy_copy,
        lambda g: _rule(g, "specialist-routes", "R-ISVA-ADULT").update(service='"RASAC"'),
    )
    message = _refusal(policy_copy)
    assert str(path) in message
    assert "rule R-ISVA-ADULT" in message
    assert "unknown service 'RASAC'" in message


def test_unknown_fact_is_named(policy_copy: Path) -> None:
    _edit_graph(
        policy_copy,
        lambda g: _rule(g, "specialist-routes", "R-CLIMB").update(also="facts.gang_member"),
    )
    with pytest.raises(
        PolicyInvalid, match=r"Specialist routes, rule R-CLIMB: unknown fact 'facts.gang_member'"
    ):
        load_book(policy_copy)


def test_undefined_parameter_is_named(policy_copy: Path) -> None:
    _edit_manifest(policy_copy, lambda m: m["parameters"].pop("sarc_window_days"))
    message = _refusal(policy_copy)
    assert "parameter 'sarc_window_days' is not defined in the manifest" in message
    assert "Helper facts" in message


def test_graph_that_is_not_json_is_named_with_its_line(policy_copy: Path) -> None:
    path = policy_copy / V1 / "routing.jdm.json"
    path.write_text(path.read_text()[:500])
    with pytest.raises(PolicyInvalid, match=r"routing\.jdm\.json: line \d+: not JSON"):
        load_book(policy_copy)


def test_graph_that_fails_on_a_sample_referral_is_refused(policy_copy: Path) -> None:
    _edit_graph(
        policy_copy, lambda g: _rule(g, "consent-gate", "CG-GIVEN").update(basis='"implied"')
    )
    message = _refusal(policy_copy)
    assert "sample referral 'victim with needs': could not be decided" in message
    assert "'implied' is not a valid ConsentBasis" in message


def test_manifest_must_match_its_directory_and_schema(policy_copy: Path) -> None:
    _edit_manifest(policy_copy, lambda m: m.update(version="2026-11-02.1", status="sometimes"))
    assert "status" in _refusal(policy_copy)
