"""Personal data as staff, a provider and the commissioner meet it through the running hub."""

from __future__ import annotations

from typing import Any

from tests.support.referrals import marked
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def test_the_commissioner_sees_no_referral_and_no_personal_data(hub: RunningStack) -> None:
    staff, commissioner = hub.staff(), hub.staff("commissioner")
    body, markers = marked()
    referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]
    attempts = [
        commissioner.get("/v1/referrals"),
        commissioner.get(f"/v1/referrals/{referral_id}"),
        commissioner.get(f"/v1/referrals/{referral_id}/contact", params={"purpose": "audit"}),
        commissioner.get(f"/v1/referrals/{referral_id}/disclosures"),
        commissioner.post("/v1/referrals", json=body),
    ]
    assert [a.status_code for a in attempts] == [403] * len(attempts)
    for answer in attempts:
        assert all(marker not in answer.text for marker in markers)
        assert referral_id not in answer.text


def test_every_read_is_logged_and_an_erasure_reaches_the_provider(hub: RunningStack) -> None:
    staff, supervisor, idva = hub.staff(), hub.staff("supervisor"), hub.provider("IDVA")
    body, markers = marked()
    referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]

    def provider_read() -> dict[str, Any] | None:
        response = idva.get(f"/v1/referrals/{referral_id}")
        return response.json() if response.status_code == 200 else None

    assert eventually_sync(provider_read, what="the IDVA work item")["contact"]["name"] in markers
    seen = staff.get(f"/v1/referrals/{referral_id}/contact", params={"purpose": "safeguarding"})
    assert seen.status_code == 200
    assert seen.json()["name"] in markers

    log = supervisor.get(f"/v1/referrals/{referral_id}/disclosures").json()["disclosures"]
    assert [(row["accessor"], row["service"], row["purpose"]) for row in log] == [
        ("provider_adapter.IDVA", "IDVA", "provider_contact"),
        ("local.triage", None, "safeguarding"),
    ]
    assert staff.get(f"/v1/referrals/{referral_id}/disclosures").status_code == 403

    erased = supervisor.post(
        f"/v1/referrals/{referral_id}/erasure", json={"reason": "data_subject_request"}
    )
    assert erased.status_code == 200, erased.text
    after = idva.get(f"/v1/referrals/{referral_id}")
    assert after.status_code == 410
    assert all(marker not in after.text for marker in markers)
    staff_after = staff.get(f"/v1/referrals/{referral_id}/contact", params={"purpose": "triage"})
    assert staff_after.status_code == 410
    # The referral itself, its decision and its timeline stay: only the personal data went.
    view = staff.get(f"/v1/referrals/{referral_id}").json()
    assert view["decision"]["routes"][0]["service"] == "IDVA"
    assert "personal_data_erased" in [step["event"] for step in view["timeline"]]
    # Reads that were refused are not disclosures: the log is unchanged.
    assert (
        len(supervisor.get(f"/v1/referrals/{referral_id}/disclosures").json()["disclosures"]) == 2
    )
