"""Invariant 1: personal data never reaches the bus, the logs or the traces. Submit
referrals whose personal fields hold marker strings, take them round (the provider reads the
contact details, acknowledges and records an outcome), then read every topic from the
beginning, the captured output of every process and every finished span."""

from __future__ import annotations

import asyncio
from typing import Any

from schemas import topics
from schemas.codes import Service
from schemas.topics import all_topics
from tests.support.kafka_reader import read_all
from tests.support.referrals import marked
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def test_markers_in_personal_fields_appear_on_no_topic_and_in_no_log(hub: RunningStack) -> None:
    staff, idva = hub.staff(), hub.provider("IDVA")
    all_markers: list[str] = []
    referral_ids = []
    for _ in range(3):
        body, markers = marked()
        all_markers += markers
        created = staff.post("/v1/referrals", json=body)
        assert created.status_code == 202
        referral_ids.append(created.json()["referral_id"])

    for referral_id in referral_ids:

        def readable(rid: str = referral_id) -> dict[str, Any] | None:
            r = idva.get(f"/v1/referrals/{rid}")
            return r.json() if r.status_code == 200 else None

        detail = eventually_sync(readable, what="the provider to read contact details")
        assert detail["contact"]["name"] in all_markers  # the provider does get them
        idva.post(f"/v1/referrals/{referral_id}/acknowledge", json={"decision": "accepted"})
        idva.post(
            f"/v1/referrals/{referral_id}/outcome",
            json={"status": "cancelled", "reason": "declined"},
        )

    def status_reached_intake() -> bool:
        views = [staff.get(f"/v1/referrals/{rid}").json() for rid in referral_ids]
        return all(v["status"] == "closed" for v in views)

    eventually_sync(status_reached_intake, what="every status event to reach intake")

    records = asyncio.run(read_all(hub.kafka_admin(), all_topics()))
    topics_seen = {r.topic for r in records}
    assert {
        topics.REFERRAL_RECEIVED,
        topics.REFERRAL_ROUTED,
        topics.queue_for(Service.IDVA),
        topics.REFERRAL_STATUS,
    } <= topics_seen
    for record in records:
        blob = b" ".join(
            [record.key or b"", record.value or b""] + [k.encode() + v for k, v in record.headers]
        ).decode(errors="replace")
        for marker in all_markers:
            assert marker not in blob, (
                f"personal data on {record.topic}@{record.partition}:{record.offset}"
            )
    logs = hub.log_text()
    for marker in all_markers:
        assert marker not in logs, "personal data in a service log"
    # The spans of every process, including their attributes and exception events.
    spans = hub.spans_text()
    assert referral_ids[0] in spans  # the spans were written: the referral id is on them
    for marker in all_markers:
        assert marker not in spans, "personal data in a span"
