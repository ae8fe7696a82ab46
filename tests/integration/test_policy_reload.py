"""A running router sees a policy version written after it started, with no restart
(issue 15): explain, simulations and ``GET /v1/policies`` serve every version that validates;
one that does not is left out (and logged) while the others go on being served."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.calendar import england_today
from services.plumbing.kafka_access import KafkaAccess
from services.router.bootstrap import build
from services.router.settings import POLICY_DIR, RouterSettings
from tests.support.services import CREDENTIALS, common_env, serving

CANDIDATE = "2027-04-01.1"
NEW = "2027-05-01.1"
FACTS: dict[str, Any] = {
    "referral_id": str(uuid.uuid4()),
    "received_at": datetime.now(UTC).isoformat(),
    "reported_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    "source": "police_officer",
    "local_authority": "worcestershire",
    "subject": {"role": "victim", "age": 34},
    "incident": {"crime_types": ["other"]},
    "assessment": {"needs": ["emotional_support"]},
    "consent": "given",
}


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, copy)
    return copy


@pytest.fixture
async def router(
    policy_dir: Path, module_database_url: str, module_kafka: KafkaAccess
) -> AsyncIterator[httpx.AsyncClient]:
    env = {**common_env(module_database_url, module_kafka), "policy_dir": policy_dir}
    app = build(RouterSettings(**env)).create_app()  # type: ignore[arg-type]
    async with serving(app, CREDENTIALS.staff_tokens["supervisor"]) as client:
        yield client


def _write_version(policy_dir: Path, version: str, **manifest_changes: Any) -> Path:
    directory = policy_dir / version
    shutil.copytree(policy_dir / CANDIDATE, directory)
    manifest_file = directory / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest.update({"version": version, "title": f"written while running: {version}"})
    manifest.update(manifest_changes)
    manifest_file.write_text(json.dumps(manifest, indent=2))
    return directory


def _retire_every_version(policy_dir: Path) -> None:
    for manifest_file in policy_dir.glob("*/manifest.json"):
        manifest = json.loads(manifest_file.read_text())
        manifest["status"] = "retired"
        manifest_file.write_text(json.dumps(manifest))


async def _explain(router: httpx.AsyncClient, version: str) -> httpx.Response:
    return await router.post(
        "/v1/decisions/explain", params={"policy_version": version}, json={"facts": FACTS}
    )


async def _listed(router: httpx.AsyncClient) -> list[str]:
    answer = await router.get("/v1/policies")
    assert answer.status_code == 200, answer.text
    return [v["version"] for v in answer.json()["versions"]]


async def test_a_version_written_while_the_router_runs_is_explained_and_simulated(
    router: httpx.AsyncClient, policy_dir: Path
) -> None:
    assert (await _explain(router, NEW)).status_code == 404
    _write_version(policy_dir, NEW, effective_from="2027-05-01")

    explained = await _explain(router, NEW)
    assert explained.status_code == 200, explained.text
    assert explained.json()["policy_version"] == NEW
    assert NEW in await _listed(router)
    today = england_today()
    simulated = await router.post(
        "/v1/simulations",
        json={
            "candidate_version": NEW,
            "from": (today - timedelta(days=7)).isoformat(),
            "to": today.isoformat(),
        },
    )
    assert simulated.status_code == 200, simulated.text
    assert simulated.json()["candidate_version"] == NEW


async def test_a_version_that_does_not_validate_is_left_out_and_the_rest_served(
    router: httpx.AsyncClient, policy_dir: Path
) -> None:
    broken = _write_version(policy_dir, NEW)
    (broken / "routing.jdm.json").write_text("{ not json")
    good = "2027-06-01.1"
    _write_version(policy_dir, good, effective_from="2027-06-01")

    assert (await _explain(router, NEW)).status_code == 404
    assert (await _explain(router, good)).status_code == 200
    listed = await _listed(router)
    assert good in listed
    assert NEW not in listed
    assert CANDIDATE in listed

    # Mended, it is served from the next request on.
    shutil.copy(policy_dir / CANDIDATE / "routing.jdm.json", broken / "routing.jdm.json")
    assert (await _explain(router, NEW)).status_code == 200


async def test_a_change_that_would_leave_no_version_in_force_keeps_the_book(
    router: httpx.AsyncClient, policy_dir: Path
) -> None:
    before = await _listed(router)
    _retire_every_version(policy_dir)
    assert await _listed(router) == before
    answer = await router.post("/v1/decisions/explain", json={"facts": FACTS})
    assert answer.status_code == 200, answer.text
