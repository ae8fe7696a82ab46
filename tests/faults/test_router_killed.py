"""Killing the router while referrals arrive loses none of them and routes none twice:
intake's outbox keeps every event until the broker has it, and the router commits its
offset only after its decision (with its own outbox rows) is committed."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from tests.support.referrals import referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

REFERRALS = 60


def test_killing_the_router_mid_stream_loses_and_duplicates_nothing(hub: RunningStack) -> None:
    staff = hub.staff()
    referral_ids: list[str] = []
    kills = 0

    def kill_router_twice() -> None:
        nonlocal kills
        for threshold in (REFERRALS // 4, REFERRALS // 2):
            eventually_sync(lambda: len(referral_ids) >= threshold, timeout=60)  # noqa: B023
            router: int = hub.info()["processes"]["router"]
            os.kill(router, signal.SIGKILL)
            kills += 1
            eventually_sync(lambda: hub.info()["processes"]["router"] != router, timeout=30)  # noqa: B023

    killer = threading.Thread(target=kill_router_twice)
    killer.start()
    for n in range(REFERRALS):
        response = staff.post("/v1/referrals", json=referral(crime_reference=f"FLT/{n}"))
        assert response.status_code == 202
        referral_ids.append(response.json()["referral_id"])
    killer.join(timeout=120)
    assert kills == 2

    def all_routed() -> list[dict[str, Any]] | None:
        views = [staff.get(f"/v1/referrals/{rid}").json() for rid in referral_ids]
        return views if all(v["status"] == "routed" for v in views) else None

    views = eventually_sync(
        all_routed, timeout=120, interval=0.5, what="every referral to be routed"
    )
    for view in views:
        assert len(view["decision"]["routes"]) == 1, "a referral was routed twice"
        assert sum(1 for e in view["timeline"] if e["event"] == "routed") == 1

    val = hub.provider("VAL")
    queued: set[str] = set()
    cursor = None
    while True:
        page = val.get(
            "/v1/queue", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
        ).json()
        queued |= {i["referral_id"] for i in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(referral_ids) <= queued
