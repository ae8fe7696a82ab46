"""A provider's webhook is down for the whole burst, then comes back: every work item is
pushed once it is up, each under one webhook-id however many times it was tried."""

from __future__ import annotations

from collections import defaultdict

from deploy.localstack.ports import free_port
from schemas.codes import Service
from tests.support.faults import assert_each_reached_its_provider_once
from tests.support.referrals import referral
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync
from tests.support.webhook_receiver import webhook_receiver

BURST = 12


def _climb_referral(n: int) -> dict[str, object]:
    return referral(
        crime_reference=f"W/{n}",
        subject__role="at_risk_child",
        subject__age=14,
        incident__crime_types=["child_criminal_exploitation"],
        assessment__cce_indicators=["county_lines"],
    )


def test_webhook_down_for_the_whole_burst_then_back(hub: RunningStack) -> None:
    staff, climb = hub.staff(), hub.provider("CLIMB")
    with webhook_receiver(free_port()) as receiver:
        secret = climb.put("/v1/webhook", json={"url": receiver.url}).json()["secret"]
        receiver.secret = secret
        receiver.plan = ["fail"] * 100_000
        try:
            submitted = [
                staff.post("/v1/referrals", json=_climb_referral(n)).json()["referral_id"]
                for n in range(BURST)
            ]
            assert_each_reached_its_provider_once(hub, submitted, Service.CLIMB)
            eventually_sync(
                lambda: (
                    {d.payload["data"]["referral_id"] for d in receiver.received("created")}
                    >= set(submitted)
                ),
                timeout=60,
                what="a failed attempt for every work item",
            )
            with receiver.lock:
                receiver.plan.clear()  # the provider's system is back

            def all_delivered() -> bool:
                ok = {
                    d.payload["data"]["referral_id"]
                    for d in receiver.received("created")
                    if d.answered == 204
                }
                return ok >= set(submitted)

            eventually_sync(all_delivered, timeout=60, what="every work item delivered")
        finally:
            climb.delete("/v1/webhook")
    ids: dict[str, set[str]] = defaultdict(set)
    for delivery in receiver.received("created"):
        assert delivery.verified
        ids[delivery.payload["data"]["referral_id"]].add(delivery.webhook_id)
    assert all(len(ids[r]) == 1 for r in submitted), "a work item was pushed under two ids"
    successes = [
        d
        for d in receiver.received("created")
        if d.answered == 204 and d.payload["data"]["referral_id"] in submitted
    ]
    assert len(successes) == BURST  # delivered once each: no retries after success
