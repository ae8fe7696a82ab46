"""An oversized submission never holds up the referrals after it (issue 16): refused at the
edge (the field named), and should an event too large for the broker be in intake's
outbox all the same, the relay sets it aside and the referrals behind it route within
seconds. The whole hub, as ``make run`` starts it, on Apache Kafka."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from schemas.topics import MESSAGE_MAX_BYTES, REFERRAL_RECEIVED
from tests.support.referrals import high_risk_da
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync


def _in_queue(provider: httpx.Client, referral_id: str) -> dict[str, Any] | None:
    items = provider.get("/v1/queue").json()["items"]
    return next((i for i in items if i["referral_id"] == referral_id), None)


async def _write_oversized_row(database_url: str) -> uuid.UUID:
    """A ``referral.received.v1`` row over the broker's ``message.max.bytes``, as one
    written before the limit was enforced would be."""
    referral_id, event_id = uuid.uuid4(), uuid.uuid4()
    envelope = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": "referral_intake",
        "type": REFERRAL_RECEIVED,
        "time": datetime.now(UTC).isoformat(),
        "subject": str(referral_id),
        "data": {"facts": {"subject": {"vulnerabilities": ["v" * 60] * (MESSAGE_MAX_BYTES // 60)}}},
    }
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """INSERT INTO intake.outbox (event_id, topic, key, payload)
               VALUES ($1, $2, $3, $4::jsonb)""",
            event_id,
            REFERRAL_RECEIVED,
            str(referral_id),
            json.dumps(envelope),
        )
    finally:
        await conn.close()
    return event_id


async def _set_aside(database_url: str, event_id: uuid.UUID) -> str | None:
    conn = await asyncpg.connect(database_url)
    try:
        error: str | None = await conn.fetchval(
            "SELECT error FROM intake.outbox_set_aside WHERE event_id = $1", event_id
        )
        return error
    finally:
        await conn.close()


def test_an_oversized_submission_is_refused_and_the_next_ones_route(hub: RunningStack) -> None:
    staff, idva = hub.staff("triage"), hub.provider("IDVA")
    codes = [f"v{n:05d}" + "a" * 58 for n in range(14_500)]
    refused = staff.post("/v1/referrals", json=high_risk_da(subject__vulnerabilities=codes))
    # The list's own bound refuses it before any event is made (issue 19: every list is
    # bounded); the event's size limit, 413, stays behind it.
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["subject.vulnerabilities"]

    database_url = hub.info()["database_url"]
    event_id = asyncio.run(_write_oversized_row(database_url))
    after = [staff.post("/v1/referrals", json=high_risk_da()) for _ in range(3)]
    assert [r.status_code for r in after] == [202, 202, 202]
    for referral_id in [r.json()["referral_id"] for r in after]:
        eventually_sync(functools.partial(_in_queue, idva, referral_id), timeout=15, what="routed")
    assert asyncio.run(_set_aside(database_url, event_id)) == "MessageSizeTooLargeError"
