"""The penetration test's findings (issue 25), each by the same steps against the running
hub, with the right answer."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import uuid
from typing import Any

import asyncpg
import httpx

from schemas.topics import all_topics
from tests.support.browser import chromium, context, sign_in
from tests.support.kafka_reader import read_all
from tests.support.referrals import high_risk_da, marked
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_finding_1_a_retired_key_stays_retired_when_the_adapter_restarts(
    hub: RunningStack,
) -> None:
    """POST /v1/keys, DELETE /v1/keys/{id} of the configured key, the adapter restarts
    (SIGTERM; the supervisor starts it again): the retired key still answers 401 and is not
    listed. (DIVERT's configured key is retired for good here: the tests that follow use
    the new one.)"""
    info = hub.info()
    url, configured = info["provider_api_urls"]["DIVERT"], info["provider_keys"]["DIVERT"]
    with httpx.Client(base_url=url, timeout=10) as client:
        made = client.post("/v1/keys", json={"label": "rolled"}, headers=_bearer(configured))
        assert made.status_code == 201, made.text
        new_key = made.json()["key"]
        listed = client.get("/v1/keys", headers=_bearer(new_key)).json()["keys"]
        old_id = next(k["key_id"] for k in listed if k["label"] == "configured")
        retired = client.delete(f"/v1/keys/{old_id}", headers=_bearer(new_key))
        assert retired.status_code == 204
        assert client.get("/v1/queue", headers=_bearer(configured)).status_code == 401

        old_pid = info["processes"]["provider_adapter.DIVERT"]
        os.kill(old_pid, signal.SIGTERM)

        def restarted() -> bool:
            pid = hub.info()["processes"].get("provider_adapter.DIVERT")
            if pid in (None, old_pid):
                return False
            try:
                return client.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        eventually_sync(restarted, timeout=90, interval=0.3, what="the adapter restarted")
        assert client.get("/v1/queue", headers=_bearer(configured)).status_code == 401
        assert client.get("/v1/queue", headers=_bearer(new_key)).status_code == 200
        keys = client.get("/v1/keys", headers=_bearer(new_key)).json()["keys"]
        assert [k["label"] for k in keys] == ["rolled"]
        assert old_id not in [k["key_id"] for k in keys]
    hub.provider_keys["DIVERT"] = new_key  # the tests that follow use the new key


def _slow_unauthenticated(port: int, path: str) -> socket.socket:
    """A request line, headers without credentials, Content-Length 1000 and one byte of
    body, from 127.0.0.2 (so that the failures it earns do not throttle the tests)."""
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{".encode()
    )
    return sock


def test_finding_2_66_slow_unauthenticated_bodies_lock_nobody_out(hub: RunningStack) -> None:
    info = hub.info()
    targets = [
        (
            info["provider_api_urls"]["IDVA"],
            f"/v1/referrals/{uuid.uuid4()}/acknowledge",
            hub.provider("IDVA"),
            "/v1/queue",
        ),
        (info["intake_url"], "/v1/referrals", hub.staff(), "/v1/referrals"),
    ]
    for base, path, client, authorised in targets:
        port = int(base.rsplit(":", 1)[1])
        crowd = [_slow_unauthenticated(port, path) for _ in range(66)]
        try:
            for _ in range(10):
                # Served at once (the client's own timeout is 10 s; the crowd stays open).
                assert client.get(authorised).status_code == 200
            assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            # Each of the crowd was answered at once (401, then 429 once the address had
            # failed often enough), its body unread, and its connection closed.
            for sock in crowd:
                answer = sock.recv(4096)
                assert answer.split()[1] in (b"401", b"429"), answer[:80]
        finally:
            for sock in crowd:
                sock.close()


def _erasure_markers() -> tuple[dict[str, Any], list[str], dict[str, str]]:
    body, markers = marked()
    tag = secrets.token_hex(4)
    extra = {
        "gender": f"gender {tag}",
        "consent_recorded_by": f"Officer Markby {tag}",
        "justification": f"Override because Quill {tag} asked",
        "rejection_note": f"Spoke to Quill {tag} on 07700 900{tag[:3]}",
        "outcome_reason": f"Quill {tag} moved away",
        "idempotency_key": f"idem-Quill-{tag}",
    }
    body["subject"]["gender"] = extra["gender"]
    searchable = [m for m in markers if m != "1987-03-14"] + list(extra.values())
    return body, searchable, extra


def test_findings_3_and_4_erasure_leaves_no_free_text_and_no_idempotency_record(
    hub: RunningStack,
) -> None:
    """A marker in every free-text field the intake and provider APIs accept; after the
    data subject's erasure it is in no table of any schema, no topic, no log and no answer,
    and re-sending the erased body with its Idempotency-Key finds nothing."""
    staff, supervisor = hub.staff(), hub.staff("supervisor")
    idva, val = hub.provider("IDVA"), hub.provider("VAL")
    body, markers, extra = _erasure_markers()
    submitted = staff.post(
        "/v1/referrals", json=body, headers={"Idempotency-Key": extra["idempotency_key"]}
    )
    assert submitted.status_code == 202, submitted.text
    referral_id = submitted.json()["referral_id"]

    def routed() -> bool:
        return bool(staff.get(f"/v1/referrals/{referral_id}").json()["status"] == "routed")

    eventually_sync(routed, what="the decision")
    consent = staff.post(
        f"/v1/referrals/{referral_id}/consent",
        json={"status": "withdrawn", "recorded_by": extra["consent_recorded_by"]},
    )
    assert consent.status_code == 200, consent.text
    override = supervisor.post(
        f"/v1/referrals/{referral_id}/override",
        json={"action": "add", "service": "VAL", "justification": extra["justification"]},
    )
    assert override.status_code == 200, override.text

    def queued(client: httpx.Client) -> bool:
        items = client.get("/v1/queue").json()["items"]
        return any(i["referral_id"] == referral_id for i in items)

    eventually_sync(lambda: queued(idva), what="the IDVA work item")
    eventually_sync(lambda: queued(val), what="the VAL work item")
    rejected = idva.post(
        f"/v1/referrals/{referral_id}/acknowledge",
        json={"decision": "rejected", "reason": "capacity", "note": extra["rejection_note"]},
    )
    assert rejected.status_code == 200, rejected.text
    cancelled = val.post(
        f"/v1/referrals/{referral_id}/outcome",
        json={"status": "cancelled", "reason": extra["outcome_reason"]},
    )
    assert cancelled.status_code == 200, cancelled.text
    # Before erasure, staff see the notes (sealed in the vault, opened for them).
    view = supervisor.get(f"/v1/referrals/{referral_id}").json()
    texts = {note["kind"]: note["text"] for note in view["notes"]}
    assert texts["override_justification"] == extra["justification"]
    assert texts["rejection_note"] == extra["rejection_note"]
    assert texts["outcome_reason"] == extra["outcome_reason"]
    assert texts["consent_recorded_by"] == extra["consent_recorded_by"]

    erased = supervisor.post(
        f"/v1/referrals/{referral_id}/erasure", json={"reason": "data_subject_request"}
    )
    assert erased.status_code == 200, erased.text

    answers = [
        staff.get(f"/v1/referrals/{referral_id}"),
        supervisor.get(f"/v1/referrals/{referral_id}"),
        supervisor.get(f"/v1/referrals/{referral_id}/disclosures"),
        idva.get(f"/v1/referrals/{referral_id}"),
        idva.get("/v1/queue", params={"status": ["rejected"]}),
        val.get("/v1/queue", params={"status": ["cancelled"]}),
        staff.get("/v1/referrals"),
    ]
    for answer in answers:
        assert not [m for m in markers if m in answer.text], answer.text[:300]

    _nowhere_in_the_hub(hub, markers)

    # Finding 4: the erased body with its key no longer finds the erased referral, and a
    # changed body no longer tells that it differs (a 409 was a test of a guess).
    again = staff.post(
        "/v1/referrals", json=body, headers={"Idempotency-Key": extra["idempotency_key"]}
    )
    assert again.status_code in (200, 202), again.text
    assert again.json()["referral_id"] != referral_id
    guess = {**high_risk_da(), "crime_reference": "GUESS/1"}
    other_key = f"{extra['idempotency_key']}-2"
    first = staff.post("/v1/referrals", json=guess, headers={"Idempotency-Key": other_key})
    assert first.status_code == 202


def _nowhere_in_the_hub(hub: RunningStack, markers: list[str]) -> None:
    """None of ``markers`` is left in any table, on any topic, in the logs or the traces."""
    found = asyncio.run(_markers_in_every_table(hub.info()["database_url"], markers))
    assert found == [], found
    records = asyncio.run(read_all(hub.kafka_admin(), all_topics()))
    for record in records:
        blob = (record.value or b"").decode(errors="replace")
        assert not [m for m in markers if m in blob], record.topic
    logs = hub.log_text() + hub.spans_text()
    assert not [m for m in markers if m in logs]


async def _markers_in_every_table(owner_url: str, markers: list[str]) -> list[str]:
    """Every row of every table of every schema, as text, searched for the markers."""
    conn = await asyncpg.connect(owner_url)
    found = []
    try:
        tables = await conn.fetch(
            """SELECT schemaname, tablename FROM pg_tables
               WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"""
        )
        assert {"intake", "router", "adapter_idva", "adapter_val"} <= {
            t["schemaname"] for t in tables
        }
        for table in tables:
            name = f'"{table["schemaname"]}"."{table["tablename"]}"'
            rows = await conn.fetch(f"SELECT t::text AS row FROM {name} t")  # noqa: S608 - catalogue names
            for row in rows:
                hits = [m for m in markers if m in row["row"]]
                if hits:
                    found.append(f"{name}: {hits}")
    finally:
        await conn.close()
    return found


def test_erasure_also_takes_what_a_resubmission_and_a_portal_caseworker_wrote(
    hub: RunningStack,
) -> None:
    """The same search after erasure, for the free text that reaches the hub another way: a
    resubmission of the referral (its consent's recorded-by and its Idempotency-Key, kept per
    submission), and a rejection note a person types in a provider's portal (VAL's, whose
    administrator no other test signs in, so that a one-time code is never reused)."""
    staff, supervisor = hub.staff(), hub.staff("supervisor")
    body, markers, extra = _erasure_markers()
    tag = extra["idempotency_key"].rsplit("-", 1)[1]
    extra.update(
        {
            "resubmission_recorded_by": f"Officer Resubby {tag}",
            "resubmission_idempotency_key": f"idem-again-Quill-{tag}",
            "portal_rejection_note": f"Quill {tag} told our caseworker to call her sister",
        }
    )
    markers += [
        extra[k]
        for k in (
            "resubmission_recorded_by",
            "resubmission_idempotency_key",
            "portal_rejection_note",
        )
    ]
    first = staff.post(
        "/v1/referrals", json=body, headers={"Idempotency-Key": extra["idempotency_key"]}
    )
    assert first.status_code == 202, first.text
    referral_id = first.json()["referral_id"]
    eventually_sync(
        lambda: staff.get(f"/v1/referrals/{referral_id}").json()["decision"] is not None,
        what="the decision",
    )
    again = {
        **body,
        "consent": {"status": "refused", "recorded_by": extra["resubmission_recorded_by"]},
    }
    resubmitted = staff.post(
        "/v1/referrals",
        json=again,
        headers={"Idempotency-Key": extra["resubmission_idempotency_key"]},
    )
    assert resubmitted.status_code == 200, resubmitted.text
    assert resubmitted.json()["referral_id"] == referral_id
    assert resubmitted.json()["consent_change"] == "withdrawn"
    override = supervisor.post(
        f"/v1/referrals/{referral_id}/override",
        json={"action": "add", "service": "VAL", "justification": extra["justification"]},
    )
    assert override.status_code == 200, override.text
    val = hub.provider("VAL")
    eventually_sync(
        lambda: any(i["referral_id"] == referral_id for i in val.get("/v1/queue").json()["items"]),
        what="the VAL work item",
    )

    info = hub.info()
    portal, admin = info["provider_portal_urls"]["VAL"], info["portal_administrators"]["VAL"]
    with chromium() as browser:
        page = context(browser).new_page()
        sign_in(page, portal, admin["username"], admin["password"], admin["totp_secret"])
        page.goto(portal + f"work-items/{referral_id}/reject")
        page.locator("input[name=reason]").first.check()
        page.get_by_label("Anything the Victim Advice Line should know (optional)").fill(
            extra["portal_rejection_note"]
        )
        page.get_by_role("button", name="Reject referral").click()
        page.wait_for_url(re.compile(rf".*/portal/work-items/{referral_id}.*"))
        assert "You rejected this referral" in page.content()

    # Before erasure, staff read both, the portal's note as the person's who wrote it.
    notes = supervisor.get(f"/v1/referrals/{referral_id}").json()["notes"]
    by_text = {note["text"]: note for note in notes}
    assert by_text[extra["resubmission_recorded_by"]]["kind"] == "consent_recorded_by"
    written = by_text[extra["portal_rejection_note"]]
    assert written["kind"] == "rejection_note"
    assert written["by"].startswith("VAL:")

    erased = supervisor.post(
        f"/v1/referrals/{referral_id}/erasure", json={"reason": "data_subject_request"}
    )
    assert erased.status_code == 200, erased.text
    for answer in (
        supervisor.get(f"/v1/referrals/{referral_id}"),
        val.get(f"/v1/referrals/{referral_id}"),
        val.get("/v1/queue", params={"status": ["rejected"]}),
    ):
        assert not [m for m in markers if m in answer.text], answer.text[:300]
    _nowhere_in_the_hub(hub, markers)
    # The resubmission's Idempotency-Key finds nothing now either.
    replay = staff.post(
        "/v1/referrals",
        json=again,
        headers={"Idempotency-Key": extra["resubmission_idempotency_key"]},
    )
    assert replay.status_code in (200, 202), replay.text
    assert replay.json()["referral_id"] != referral_id
