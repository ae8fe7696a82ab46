"""What the commissioner's reports ask of the hub, on the running hub: VAL's contact
standard refused and then met (seed 000: "3 contact attempts at different times of day"),
shown on the work item and counted in the report; equality answers counted, never on the
bus; and the published edition as PDF."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pypdfium2 as pdfium

from schemas.topics import all_topics
from tests.support.kafka_reader import read_all
from tests.support.referrals import referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

LONDON = ZoneInfo("Europe/London")
PARTS = {
    "morning": (time(9), time(11, 59)),
    "afternoon": (time(12), time(16, 59)),
    "evening": (time(17), time(23, 59)),
}
ANSWERS = {
    "ethnicity": "mixed_white_and_black_caribbean",
    "sex": "female",
    "gender_identity_same_as_sex": "prefer_not_to_say",
    "sexual_orientation": "gay_or_lesbian",
    "disability": "not_disabled_no_condition",
    "religion": "sikh",
}


def _latest_in(part: str, now: datetime) -> datetime:
    """The latest moment before ``now`` that falls in ``part`` of a London day."""
    start, end = PARTS[part]
    local = now.astimezone(LONDON)
    for back in range(3):
        day = local.date() - timedelta(days=back)
        latest = min(local - timedelta(minutes=2), datetime.combine(day, end, tzinfo=LONDON))
        if latest.date() == day and latest.time() >= start:
            return latest.astimezone(UTC)
    raise AssertionError("a part of the day within three days")


def _requested_days_ago(hub: RunningStack, referral_id: str, days: int) -> None:
    """Set VAL's work item as if the referral had reached VAL ``days`` ago: a contact attempt
    may not be dated before its route was requested, and the attempts below are spread over
    the parts of the past days."""

    async def move() -> None:
        conn = await asyncpg.connect(hub.info()["database_url"])
        try:
            await conn.execute(
                "UPDATE adapter_val.work_items SET requested_at = requested_at - $2::interval "
                "WHERE referral_id = $1",
                referral_id,
                timedelta(days=days),
            )
        finally:
            await conn.close()

    asyncio.run(move())


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _report(commissioner: httpx.Client, **params: str) -> dict[str, Any]:
    return _ok(commissioner.get("/v1/reports/performance", params=params, timeout=120))


def test_contact_standard_refused_then_met_and_reported(hub: RunningStack) -> None:
    staff, commissioner, val = hub.staff(), hub.staff("commissioner"), hub.provider("VAL")
    before = _report(commissioner)
    answer = staff.post(
        "/v1/referrals",
        json=referral(source="val", contact__phone="07700 900222", equality=ANSWERS),
    )
    assert answer.status_code == 202, answer.text
    referral_id = answer.json()["referral_id"]
    eventually_sync(
        lambda: val.get(f"/v1/referrals/{referral_id}").status_code == 200,
        timeout=40,
        what="VAL's work item",
    )
    _ok(val.post(f"/v1/referrals/{referral_id}/acknowledge", json={"decision": "accepted"}))
    _requested_days_ago(hub, referral_id, days=3)
    now = datetime.now(UTC)
    first = _latest_in("morning", now)
    _ok(
        val.post(
            f"/v1/referrals/{referral_id}/contact-attempts",
            json={"at": first.isoformat(), "channel": "phone", "result": "no_answer"},
        )
    )

    # One unanswered call is not enough: 409 says what is missing.
    refused = val.post(
        f"/v1/referrals/{referral_id}/outcome",
        json={"status": "failed", "reason": "not_contactable"},
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert "2 more attempts" in problem["detail"]
    assert "afternoon or evening" in problem["detail"]
    assert problem["contact_standard"]["remaining"]["attempts"] == 2
    # The work item shows the standard, so a caseworker (and the portal) sees what remains.
    item = _ok(val.get(f"/v1/referrals/{referral_id}"))
    assert item["status"] == "accepted"
    standard = item["contact_standard"]
    assert standard["required"] == {"attempts": 3, "parts_of_day": 3, "days": 1}
    assert standard["made"]["attempts"] == 1
    assert standard["made"]["parts_of_day"] == ["morning"]
    assert standard["met"] is False

    for part in ("afternoon", "evening"):
        _ok(
            val.post(
                f"/v1/referrals/{referral_id}/contact-attempts",
                json={
                    "at": _latest_in(part, now).isoformat(),
                    "channel": "phone",
                    "result": "no_answer",
                },
            )
        )
    assert _ok(val.get(f"/v1/referrals/{referral_id}"))["contact_standard"]["met"] is True
    closed = _ok(
        val.post(
            f"/v1/referrals/{referral_id}/outcome",
            json={"status": "failed", "reason": "not_contactable"},
        )
    )
    assert closed["status"] == "failed"

    def reported() -> dict[str, Any] | None:
        report = _report(commissioner)
        grew = (
            report["services"]["VAL"]["closed_not_contactable"]
            == before["services"]["VAL"]["closed_not_contactable"] + 1
        )
        return report if grew else None

    report = eventually_sync(reported, timeout=60, what="the report to count the closed route")
    val_figures = report["services"]["VAL"]
    assert val_figures["not_contactable_rate"] is not None
    assert val_figures["contact_attempts_per_closed_route"] >= 1
    ethnicity = report["equality"]["by_source"]["val"]["characteristics"]["ethnicity"]
    assert (
        ethnicity["categories"]["mixed_white_and_black_caribbean"]
        == before["equality"]["by_source"]["val"]["characteristics"]["ethnicity"]["categories"][
            "mixed_white_and_black_caribbean"
        ]
        + 1
    )
    gender = report["equality"]["characteristics"]["gender_identity_same_as_sex"]
    assert gender["prefer_not_to_say"] >= 1

    # The answers never travel: no topic carries them.
    records = asyncio.run(read_all(hub.kafka_admin(), all_topics()))
    assert records
    for record in records:
        blob = (record.value or b"").decode(errors="replace")
        assert "equality" not in blob
        for code in ("mixed_white_and_black_caribbean", "gay_or_lesbian", "sikh"):
            assert code not in blob

    # The published edition as a PDF for the panel pack.
    answer = commissioner.get(
        "/v1/reports/performance",
        params={"edition": "published"},
        headers={"Accept": "application/pdf"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    document = pdfium.PdfDocument(answer.content)
    assert len(document) > 3
    for index in range(len(document)):
        assert "Published edition" in document[index].get_textpage().get_text_range()
