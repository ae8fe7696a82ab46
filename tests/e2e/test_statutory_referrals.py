"""Statutory referrals on the running hub, as a supervisor works them: a flag that asks staff
to refer (here the MARAC referral of high-risk domestic abuse, which every policy version
raises) appears on the supervisor's worklist, stays there until a supervisor records the
referral as made (when, the other agency's reference), then shows in the referral's timeline
and in the commissioner's report, and the reference never leaves intake."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from schemas.calendar import england_today
from schemas.topics import all_topics
from tests.support.kafka_reader import read_all
from tests.support.referrals import ago, high_risk_da
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

FLAG = "marac_referral_required"


def _worklist_ids(supervisor: httpx.Client, **params: str) -> dict[str, dict[str, Any]]:
    """Every referral on the worklist with these filters, page by page."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        page = supervisor.get(
            "/v1/referrals",
            params={**params, "limit": "200", **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        found.update({item["referral_id"]: item for item in body["items"]})
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def _statutory_figures(hub: RunningStack) -> dict[str, Any]:
    today = england_today()
    report = hub.staff("commissioner").get(
        "/v1/reports/performance",
        params={"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()},
    )
    assert report.status_code == 200, report.text
    figures: dict[str, Any] = report.json()["totals"]["statutory_referrals"][FLAG]
    return figures


def test_a_supervisor_records_a_statutory_referral_and_it_leaves_the_worklist(
    hub: RunningStack,
) -> None:
    triage, supervisor = hub.staff("triage"), hub.staff("supervisor")
    before = _statutory_figures(hub)
    referral_id = triage.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]

    def decided() -> dict[str, Any] | None:
        view: dict[str, Any] = supervisor.get(f"/v1/referrals/{referral_id}").json()
        return view if view["decision"] else None

    view = eventually_sync(decided, what="the decision")
    assert FLAG in view["decision"]["flags"]
    [outstanding] = [s for s in view["statutory_referrals"] if s["flag"] == FLAG]
    assert outstanding["status"] == "outstanding"
    assert outstanding["policy_version"] == view["decision"]["policy_version"]

    worklist = _worklist_ids(supervisor, action_required="true", flag=FLAG)
    assert FLAG in worklist[referral_id]["actions_outstanding"]
    assert referral_id not in _worklist_ids(supervisor, action_required="false", flag=FLAG)

    path = f"/v1/referrals/{referral_id}/statutory-referrals"
    reference = f"MARAC-{secrets.token_hex(4).upper()}-26"
    made = {"flag": FLAG, "made_at": ago(minutes=20), "reference": reference}

    assert triage.post(path, json=made).status_code == 403
    # A name or a note is not a reference, and is never repeated back.
    named = supervisor.post(path, json={**made, "reference": "Jane Smith"})
    assert named.status_code == 422
    assert named.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in named.json()["errors"]] == ["reference"]
    assert "Jane Smith" not in named.text
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert supervisor.post(path, json={**made, "made_at": future}).status_code == 422
    not_statutory = supervisor.post(path, json={**made, "flag": "sarc_urgent"})
    assert not_statutory.status_code == 422
    assert [e["field"] for e in not_statutory.json()["errors"]] == ["flag"]
    never_raised = supervisor.post(path, json={**made, "flag": "duty_to_notify"})
    assert never_raised.status_code == 409
    assert "duty_to_notify" in never_raised.json()["detail"]
    unknown = supervisor.post(f"/v1/referrals/{uuid.uuid4()}/statutory-referrals", json=made)
    assert unknown.status_code == 404

    recorded = supervisor.post(path, json=made)
    assert recorded.status_code == 201, recorded.text
    answer = recorded.json()
    assert answer["status"] == "made"
    assert answer["reference"] == reference
    assert answer["recorded_by"]

    assert referral_id not in _worklist_ids(supervisor, action_required="true", flag=FLAG)
    again = supervisor.post(path, json=made)
    assert again.status_code == 409
    assert "already recorded" in again.json()["detail"]

    view = supervisor.get(f"/v1/referrals/{referral_id}").json()
    [done] = [s for s in view["statutory_referrals"] if s["flag"] == FLAG]
    assert done["status"] == "made"
    assert done["reference"] == reference
    assert done["made_at"] is not None
    [entry] = [t for t in view["timeline"] if t["event"] == "statutory_referral_recorded"]
    assert entry["flag"] == FLAG
    assert entry["reference"] == reference
    assert entry["by"] == answer["recorded_by"]

    after = _statutory_figures(hub)
    assert after["raised"] == before["raised"] + 1
    assert after["actioned"] == before["actioned"] + 1
    assert after["outstanding"] == before["outstanding"]
    assert after["median_hours_to_action"] is not None

    # The reference stays in intake: not on the bus, not in any log.
    records = asyncio.run(read_all(hub.kafka_admin(), all_topics()))
    for record in records:
        assert reference.encode() not in (record.value or b""), record.topic
    assert reference not in hub.log_text()
