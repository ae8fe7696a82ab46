"""The commissioner's report through the running hub: referrals submitted by triage, worked
by the providers over their API, and the report (JSON, CSV and the HTML that ``make report``
writes) moving by exactly what happened. The hub is shared with other tests, so the report
is asked for one local authority that only this module uses, and compared before and
after."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from schemas.calendar import england_today
from services.referral_intake.domain.performance import flatten
from tests.support.commands import run_module
from tests.support.referrals import ago, high_risk_da, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

AREA = "telford_and_wrekin"


def _params() -> dict[str, str]:
    today = england_today()
    return {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
        "local_authority": AREA,
    }


def _json(commissioner: httpx.Client) -> dict[str, Any]:
    response = commissioner.get("/v1/reports/performance", params=_params())
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def _csv(commissioner: httpx.Client) -> dict[tuple[str, str, str], float | None]:
    response = commissioner.get(
        "/v1/reports/performance", params=_params(), headers={"Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    return {
        (r["service"], r["sub_service"], r["figure"]): float(r["value"]) if r["value"] else None
        for r in csv.DictReader(io.StringIO(response.text))
    }


def _figures(report: dict[str, Any]) -> dict[tuple[str, str, str], Any]:
    return {(s, sub, f): v for s, sub, f, v in flatten(report)}


def _queued(provider: httpx.Client, referral_id: str) -> bool:
    items = provider.get("/v1/queue", params={"limit": 200}).json()["items"]
    return any(i["referral_id"] == referral_id for i in items)


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


WATCHED = (
    ("IDVA", "", "referrals"),
    ("IDVA", "", "accepted"),
    ("IDVA", "", "engaged"),
    ("IDVA", "", "completed"),
    ("IDVA", "", "high_risk_da_referrals"),
    ("IDVA", "", "outcome_measures.risk_reduced.positive"),
    ("IDVA", "", "outcome_measures.needs_met.reported"),
    ("IDVA", "", "outcome_measures.needs_met.positive"),
    ("ISVA", "", "referrals"),
    ("ISVA", "", "rejected"),
    ("ISVA", "", "rejected_by_reason.capacity"),
    ("VAL", "", "referrals"),
    ("VAL", "re_referral", "referrals"),
    ("VAL", "", "accepted"),
    ("all", "", "referrals"),
    ("all", "", "intake.received"),
)
EXPECTED = {
    # IDVA: accepted, contacted, completed with risk reduced and needs not met.
    ("IDVA", "", "referrals"): 1,
    ("IDVA", "", "accepted"): 1,
    ("IDVA", "", "engaged"): 1,
    ("IDVA", "", "completed"): 1,
    ("IDVA", "", "high_risk_da_referrals"): 1,
    ("IDVA", "", "outcome_measures.risk_reduced.positive"): 1,
    ("IDVA", "", "outcome_measures.needs_met.reported"): 1,
    ("IDVA", "", "outcome_measures.needs_met.positive"): 0,
    # ISVA rejected for capacity; VAL has the re-referral, not yet acknowledged.
    ("ISVA", "", "referrals"): 1,
    ("ISVA", "", "rejected"): 1,
    ("ISVA", "", "rejected_by_reason.capacity"): 1,
    ("VAL", "", "referrals"): 1,
    ("VAL", "re_referral", "referrals"): 1,
    ("VAL", "", "accepted"): 0,
    ("all", "", "referrals"): 3,
    ("all", "", "intake.received"): 2,
}


def test_the_commissioner_gets_json_csv_and_html_that_agree_with_what_happened(
    hub: RunningStack, tmp_path: Path
) -> None:
    staff, commissioner = hub.staff("triage"), hub.staff("commissioner")
    idva, isva, val = hub.provider("IDVA"), hub.provider("ISVA"), hub.provider("VAL")
    assert staff.get("/v1/reports/performance").status_code == 403  # triage sees no reports
    before = _figures(_json(commissioner))

    da_id = _ok_submit(staff, high_risk_da(local_authority=AREA))
    so_id = _ok_submit(
        staff,
        referral(
            local_authority=AREA,
            incident__crime_types=["sexual_offence"],
            incident__occurred_at=ago(days=50),
        ),
    )

    # IDVA reads the work item, accepts, reaches the person and records the outcome.
    # Reading it answers 503 (try again) until intake has recorded the route as well.
    eventually_sync(
        lambda: idva.get(f"/v1/referrals/{da_id}").status_code == 200,
        what="the IDVA work item with its contact details",
    )
    _ok(idva.post(f"/v1/referrals/{da_id}/acknowledge", json={"decision": "accepted"}))
    contacted_at = datetime.now(UTC).isoformat()
    _ok(
        idva.post(
            f"/v1/referrals/{da_id}/contact-attempts",
            json={"at": contacted_at, "channel": "phone", "result": "contacted"},
        )
    )
    _ok(
        idva.post(
            f"/v1/referrals/{da_id}/outcome",
            json={
                "status": "completed",
                "measures": {
                    "engaged": True,
                    "risk_reduced": True,
                    "abuse_ceased_or_reduced": True,
                    "cope_and_recover": "improved",
                    "needs_met": False,
                },
            },
        )
    )
    # ISVA cannot take it; the hub re-refers it to VAL, which has it in its queue.
    eventually_sync(lambda: _queued(isva, so_id), what="the ISVA work item")
    _ok(
        isva.post(
            f"/v1/referrals/{so_id}/acknowledge",
            json={"decision": "rejected", "reason": "capacity", "note": "list closed"},
        )
    )
    eventually_sync(lambda: _queued(val, so_id), what="the re-referral to VAL")

    def moved() -> dict[str, Any] | None:
        report = _json(commissioner)
        after = _figures(report)
        change = {key: (after.get(key) or 0) - (before.get(key) or 0) for key in WATCHED}
        return report if change == EXPECTED else None

    report = eventually_sync(moved, timeout=60, what="the report to show what happened")
    idva_figures = report["services"]["IDVA"]
    assert idva_figures["code_compliance_rate"] is not None
    assert idva_figures["median_hours_to_acknowledge"] is not None
    assert report["local_authority"] == AREA

    # The CSV says the same as the JSON, figure for figure.
    assert _csv(commissioner) == {
        key: None if value is None else float(value) for key, value in _figures(report).items()
    }

    # make report: the HTML document, from the running stack's own file.
    out = tmp_path / "report.html"
    done = run_module(
        "reports",
        "--stack",
        str(hub.stack_file),
        "--from",
        _params()["from"],
        "--to",
        _params()["to"],
        "--local-authority",
        AREA,
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.count("<svg") == page.count("<figure>") >= 8
    assert "No data" not in page
    assert "Domestic abuse advisers (IDVA)" in page
    assert "Test Person" not in page


def _ok_submit(staff: httpx.Client, body: dict[str, Any]) -> str:
    response = staff.post("/v1/referrals", json=body)
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def test_a_bad_period_is_refused_with_the_field_named(hub: RunningStack) -> None:
    response = hub.staff("commissioner").get(
        "/v1/reports/performance", params={"period": "2026-27Q9"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["period"]
