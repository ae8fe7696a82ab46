"""A person asks for everything the hub holds about them (UK GDPR Article 15): on the
running hub, a supervisor's export covers every referral matched to the person, lists every
read of their details with its reader and purpose, shows earlier contact details, is itself
logged, reads as a document, and says of an erased referral that it was erased and what
remains (issue 26)."""

from __future__ import annotations

from typing import Any

from tests.support.referrals import marked, referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def _export(hub: RunningStack, referral_id: str, **params: str) -> Any:
    return hub.staff("supervisor").get(
        "/v1/subject-access", params={"referral_id": referral_id, **params}
    )


def test_an_export_lists_every_read_with_reader_and_purpose_across_the_persons_referrals(
    hub: RunningStack,
) -> None:
    staff, supervisor, idva = hub.staff(), hub.staff("supervisor"), hub.provider("IDVA")
    body, markers = marked()
    first = staff.post("/v1/referrals", json=body).json()["referral_id"]
    # The same person (name and date of birth) for another crime: a second referral.
    again = referral(
        contact__name=body["contact"]["name"],
        subject__date_of_birth=body["subject"]["date_of_birth"],
    )
    del again["subject"]["age"]
    second = staff.post("/v1/referrals", json=again).json()["referral_id"]

    # Reads of the person's details: the provider's system, triage staff, then a correction.
    eventually_sync(
        lambda: idva.get(f"/v1/referrals/{first}").status_code == 200,
        what="the IDVA provider's read",
    )
    assert (
        staff.get(f"/v1/referrals/{first}/contact", params={"purpose": "triage"}).status_code == 200
    )
    assert (
        staff.patch(f"/v1/referrals/{first}/contact", json={"phone": "07700 900654"}).status_code
        == 200
    )

    answer = _export(hub, first)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    export = answer.json()
    ids = [r["referral_id"] for r in export["referrals"]]
    assert ids[0] == first
    assert second in ids

    one = export["referrals"][0]
    logged = supervisor.get(f"/v1/referrals/{first}/disclosures").json()["disclosures"]
    reads = {(d["reader"], d["purpose"]) for d in one["disclosures"]}
    for row in logged:
        assert (row["accessor_name"] or row["accessor"], row["purpose"]) in reads
    purposes = {d["purpose"] for d in one["disclosures"]}
    assert {"provider_contact", "triage", "subject_access"} <= purposes
    assert any(d["service"] == "IDVA" for d in one["disclosures"])
    # What is held: the details now, the ones they replaced, the coded facts, the decision.
    assert one["personal_data"]["contact"]["phone"] == "07700 900654"
    assert [v["contact"]["phone"] for v in one["personal_data"]["earlier_contact_details"]] == [
        body["contact"]["phone"]
    ]
    assert one["coded_facts"]["incident"]["crime_types"] == ["domestic_abuse"]
    assert one["erased"] is None

    # Each export is itself a disclosure of every referral in it.
    after = supervisor.get(f"/v1/referrals/{second}/disclosures").json()["disclosures"]
    assert [d["purpose"] for d in after].count("subject_access") == 1

    # The readable document: the same, in words, every value escaped.
    document = _export(hub, first, format="html")
    assert document.status_code == 200
    assert document.headers["content-type"].startswith("text/html")
    assert "What the referral hub holds about you" in document.text
    assert markers[0] in document.text  # the person's own name, for the person
    assert "provider contact" in document.text
    assert "triage" in document.text
    by_accept = hub.staff("supervisor").get(
        "/v1/subject-access", params={"referral_id": first}, headers={"Accept": "text/html"}
    )
    assert by_accept.headers["content-type"].startswith("text/html")

    # Only supervisors export.
    refused = staff.get("/v1/subject-access", params={"referral_id": first})
    assert refused.status_code == 403


def test_an_erased_referral_says_so_and_what_remains(hub: RunningStack) -> None:
    staff, supervisor = hub.staff(), hub.staff("supervisor")
    body, markers = marked()
    referral_id = staff.post("/v1/referrals", json=body).json()["referral_id"]
    erased = supervisor.post(
        f"/v1/referrals/{referral_id}/erasure", json={"reason": "data_subject_request"}
    )
    assert erased.status_code == 200, erased.text
    export = _export(hub, referral_id).json()
    (only,) = export["referrals"]
    assert only["personal_data"] is None
    assert only["erased"]["reason"] == "data_subject_request"
    assert "coded" in only["erased"]["what_remains"]
    assert only["coded_facts"]["subject"]["age"] >= 0
    text = _export(hub, referral_id, format="html").text
    assert "was erased" in text
    for marker in markers:
        assert marker not in str(export)
        assert marker not in text


def test_an_unknown_referral_and_a_bad_parameter(hub: RunningStack) -> None:
    unknown = _export(hub, "00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    bad = _export(hub, "Secret Name")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "referral_id"
    assert "Secret Name" not in bad.text
