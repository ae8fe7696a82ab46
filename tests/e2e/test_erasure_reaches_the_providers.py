"""Erasure through the running hub (issue 15): once a supervisor erases a referral's personal
data, it leaves every provider's queue, its webhook pushes not yet delivered are withdrawn,
and every later step a provider tries on it answers 410."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from deploy.localstack.ports import free_port
from tests.support.referrals import ago, high_risk_da
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync
from tests.support.webhook_receiver import webhook_receiver

SERVICES = ("VAL", "IDVA", "ISVA", "CLIMB", "DIVERT")


def _deliveries(hub: RunningStack, referral_id: str) -> dict[str, int]:
    """The IDVA adapter's webhook deliveries about the referral, by state."""

    async def query() -> dict[str, int]:
        conn = await asyncpg.connect(hub.info()["database_url"])
        try:
            rows = await conn.fetch(
                """SELECT d.state, count(*) AS n FROM adapter_idva.deliveries d
                   JOIN adapter_idva.work_items w USING (route_id)
                   WHERE w.referral_id = $1 GROUP BY d.state""",
                referral_id,
            )
        finally:
            await conn.close()
        return {r["state"]: int(r["n"]) for r in rows}

    return asyncio.run(query())


def _listed(hub: RunningStack, referral_id: str) -> list[str]:
    """The services whose queue lists the referral, in any status."""
    every_status = [
        "requested",
        "received",
        "accepted",
        "in_progress",
        "on_hold",
        "escalated",
        "cancelled",
        "rejected",
        "completed",
        "failed",
        "closed",
    ]
    found = []
    for service in SERVICES:
        page = hub.provider(service).get("/v1/queue", params={"status": every_status, "limit": 200})
        assert page.status_code == 200, page.text
        if any(i["referral_id"] == referral_id for i in page.json()["items"]):
            found.append(service)
    return found


def test_an_erased_referral_leaves_every_queue_and_every_later_step_is_gone(
    hub: RunningStack,
) -> None:
    staff, supervisor, idva = hub.staff(), hub.staff("supervisor"), hub.provider("IDVA")
    with webhook_receiver(free_port()) as receiver:
        registered = idva.put("/v1/webhook", json={"url": receiver.url})
        assert registered.status_code == 200, registered.text
        receiver.secret = registered.json()["secret"]
        receiver.plan = ["fail"] * 1000  # the push stays pending, retrying
        try:
            referral_id = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
            eventually_sync(
                lambda: receiver.received("created", referral_id),
                timeout=30,
                what="a first (failed) push of the new work item",
            )
            assert "IDVA" in _listed(hub, referral_id)

            erased = supervisor.post(
                f"/v1/referrals/{referral_id}/erasure", json={"reason": "data_subject_request"}
            )
            assert erased.status_code == 200, erased.text

            eventually_sync(
                lambda: _listed(hub, referral_id) == [],
                timeout=30,
                what="the referral gone from every provider's queue",
            )

            def withdrawn() -> dict[str, int] | None:
                states = _deliveries(hub, referral_id)
                return states if states.get("cancelled") else None

            states = eventually_sync(withdrawn, timeout=30, what="the pending push withdrawn")
            assert not states.get("pending"), states
            assert not states.get("sending"), states
        finally:
            eventually_sync(
                lambda: idva.delete("/v1/webhook").status_code in (204, 404), timeout=30
            )

    steps: list[tuple[str, dict[str, Any]]] = [
        ("/acknowledge", {"decision": "accepted"}),
        ("/acknowledge", {"decision": "rejected", "reason": "capacity"}),
        ("/contact-attempts", {"at": ago(minutes=1), "channel": "phone", "result": "contacted"}),
        ("/outcome", {"status": "completed"}),
    ]
    for path, body in steps:
        answer = idva.post(f"/v1/referrals/{referral_id}{path}", json=body)
        assert answer.status_code == 410, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "erased" in answer.json()["detail"]
    assert idva.get(f"/v1/referrals/{referral_id}").status_code == 410

    # Intake's timeline shows the route ended because of the erasure, as the adapter said.
    def cancelled_by_erasure() -> bool:
        view = staff.get(f"/v1/referrals/{referral_id}").json()
        return any(
            step["event"] == "cancelled"
            and step.get("service") == "IDVA"
            and step.get("reason") == "personal_data_erased"
            for step in view["timeline"]
        )

    eventually_sync(cancelled_by_erasure, timeout=30, what="the cancellation in the timeline")
