"""What operations see of one referral: a single trace across the processes it passes
through, and metrics that count it, scraped and parsed as Prometheus would."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from schemas import topics
from schemas.codes import Service
from tests.support.referrals import high_risk_da
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _take_round(hub: RunningStack) -> str:
    """Submit a high-risk DA referral; IDVA reads it, accepts it and records an outcome."""
    staff, idva = hub.staff(), hub.provider("IDVA")
    referral_id: str = staff.post("/v1/referrals", json=high_risk_da()).json()["referral_id"]
    eventually_sync(
        lambda: idva.get(f"/v1/referrals/{referral_id}").status_code == 200,
        what="the IDVA work item",
    )
    assert (
        idva.post(
            f"/v1/referrals/{referral_id}/acknowledge", json={"decision": "accepted"}
        ).status_code
        == 200
    )
    assert (
        idva.post(
            f"/v1/referrals/{referral_id}/outcome",
            json={"status": "completed", "measures": {"risk_reduced": True}},
        ).status_code
        == 200
    )
    eventually_sync(
        lambda: staff.get(f"/v1/referrals/{referral_id}").json()["status"] == "closed",
        what="the outcome to reach intake",
    )
    return referral_id


def test_one_referral_is_one_trace_from_intake_request_to_outcome(hub: RunningStack) -> None:
    referral_id = _take_round(hub)

    def submission_span() -> dict[str, Any] | None:
        for span in hub.spans():
            if (
                span["service"] == "referral_intake"
                and span["kind"] == "SERVER"
                and span["attributes"].get("hub.referral_id") == referral_id
            ):
                return span
        return None

    trace_id = eventually_sync(submission_span, what="the intake request's span")["trace_id"]

    def trace_reaches_the_outcome() -> dict[str, set[str]] | None:
        by_service: dict[str, set[str]] = defaultdict(set)
        for span in hub.spans():
            if span["trace_id"] == trace_id:
                by_service[span["service"]].add(span["name"])
        idva = by_service.get("provider_adapter.IDVA", set())
        intake = by_service.get("referral_intake", set())
        done = (
            "provider acknowledged" in idva
            and "provider outcome" in idva
            and any(name.startswith(topics.REFERRAL_STATUS) for name in intake)
        )
        return by_service if done else None

    spans = eventually_sync(trace_reaches_the_outcome, what="the outcome's spans in the trace")
    # The messaging spans follow the OpenTelemetry conventions: "<destination> <operation>".
    idva_queue = topics.queue_for(Service.IDVA)
    assert f"{topics.REFERRAL_RECEIVED} publish" in spans["referral_intake"]
    assert f"{topics.REFERRAL_RECEIVED} process" in spans["router"]
    assert f"{idva_queue} publish" in spans["router"]
    assert f"{idva_queue} process" in spans["provider_adapter.IDVA"]
    assert f"{topics.REFERRAL_STATUS} publish" in spans["provider_adapter.IDVA"]
    assert f"{topics.REFERRAL_STATUS} process" in spans["referral_intake"]
    # Every span of this trace that names a referral names this one.
    named = {
        span["attributes"]["hub.referral_id"]
        for span in hub.spans()
        if span["trace_id"] == trace_id and "hub.referral_id" in span["attributes"]
    }
    assert named == {referral_id}


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = httpx.get(url + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), sample.value))
    return samples


def test_every_service_serves_metrics_that_count_the_referral(hub: RunningStack) -> None:
    referral_id = _take_round(hub)
    info = hub.info()
    intake = _scrape(info["intake_url"])
    assert sum(v for _, v in intake["hub_referrals_received_total"]) >= 1
    assert intake["hub_http_request_duration_seconds_count"]

    router = _scrape(info["router_url"])
    idva_routes = [
        v for labels, v in router["hub_routes_dispatched_total"] if labels["service"] == "IDVA"
    ]
    assert sum(idva_routes) >= 1
    fired = {labels["rule_id"] for labels, _ in router["hub_rules_fired_total"]}
    assert "R-IDVA-HIGH-RISK" in fired

    def lag_reported() -> list[tuple[dict[str, str], float]] | None:
        lag = _scrape(info["router_url"])["hub_consumer_lag"]
        return lag or None

    lag = eventually_sync(lag_reported, timeout=60, what="the router's consumer lag")
    assert {labels["topic"] for labels, _ in lag} >= {topics.REFERRAL_RECEIVED}
    assert all(value >= 0 for _, value in lag)

    for name, url in info["provider_api_urls"].items():
        adapter = _scrape(url)
        assert "hub_outbox_backlog" in adapter, name
    # No label anywhere carries a referral id (or anything else that names a person).
    for url in [info["intake_url"], info["router_url"], *info["provider_api_urls"].values()]:
        text = httpx.get(url + "/metrics", timeout=5).text
        assert referral_id not in text
        assert not UUID.search(text), "an id in a metric label"
