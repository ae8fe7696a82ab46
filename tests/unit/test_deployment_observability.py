"""Alert rules and dashboards: well-formed, and every metric and label their PromQL names
exists in services/plumbing/metrics.py (or is Prometheus' own `up`). A renamed metric fails
here instead of leaving an alert that can never fire. The runbook explains every alert and
every panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.deployment import (
    PROMQL_FUNCTIONS,
    ROOT,
    RUNBOOK,
    TARGET_LABELS,
    exposed_series,
    hub_metrics,
    iter_panels,
    load_yaml,
    markdown_anchors,
    parse_promql,
    recording_rules,
)

RULES: dict[str, Any] = load_yaml(ROOT / "deploy" / "prometheus" / "alerts.yml")
DASHBOARD_DIR = ROOT / "deploy" / "grafana" / "dashboards"
DASHBOARDS = {path.name: json.loads(path.read_text()) for path in DASHBOARD_DIR.glob("*.json")}
DATASOURCES: dict[str, Any] = load_yaml(
    ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "hub.yml"
)
RUNBOOK_TEXT = RUNBOOK.read_text(encoding="utf-8")
SERIES = exposed_series()
RECORDED = recording_rules(RULES)
ALERTS = {
    rule["alert"]: rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule
}

REQUIRED_ALERTS = {
    "HubSlaBreach",
    "HubDeadLetter",
    "HubConsumerLagHigh",
    "HubConsumerLagGrowing",
    "HubOutboxBacklog",
    "HubOutboxStuck",
    "HubWebhookFailures",
    "HubWebhookRefused",
    "HubServiceDown",
    "HubHttpErrors",
    "HubHttpLatencyHigh",
}
_DURATION = re.compile(r"^\d+[smhd]$")


def _dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for name, dashboard in DASHBOARDS.items():
        for panel in iter_panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                queries.append((f"{name}: {panel['title']}", target["expr"]))
    return queries


def _rule_queries() -> list[tuple[str, str]]:
    return [
        (rule.get("alert") or rule["record"], rule["expr"])
        for group in RULES["groups"]
        for rule in group["rules"]
    ]


QUERIES = _rule_queries() + _dashboard_queries()


def test_the_rules_file_has_the_structure_prometheus_expects() -> None:
    assert set(RULES) == {"groups"}
    names = [group["name"] for group in RULES["groups"]]
    assert len(names) == len(set(names))
    for group in RULES["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule), rule
            assert isinstance(rule["expr"], str)
            assert rule["expr"].strip()
            if "record" in rule:
                assert set(rule) <= {"record", "expr", "labels"}
                # level:metric:operation, Prometheus' naming for recorded series
                assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z_]+", rule["record"])
                continue
            assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
            assert re.fullmatch(r"Hub[A-Za-z]+", rule["alert"])
            if "for" in rule:
                assert _DURATION.match(rule["for"]), rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
    assert len(ALERTS) == sum(1 for g in RULES["groups"] for r in g["rules"] if "alert" in r)


def test_the_alerts_cover_what_operations_must_hear_about() -> None:
    assert set(ALERTS) >= REQUIRED_ALERTS
    used = {name: parse_promql(rule["expr"]).names for name, rule in ALERTS.items()}
    assert "hub_sla_breaches_total" in used["HubSlaBreach"]
    assert "hub_dead_letters_total" in used["HubDeadLetter"]
    assert "up" in used["HubServiceDown"]


def test_alerts_on_rare_events_fire_on_the_first_one() -> None:
    """A counter is born at its first increment, so increase() misses that one: the rule
    must also catch a series that did not exist a window ago."""
    for name in ("HubDeadLetter", "HubSlaBreach", "HubRedrives", "HubWebhookRefused"):
        expr = ALERTS[name]["expr"]
        for part in ("increase(", "unless", "offset"):
            assert part in expr, name


@pytest.mark.parametrize(("where", "expr"), QUERIES, ids=[w for w, _ in QUERIES])
def test_promql_names_only_metrics_that_exist(where: str, expr: str) -> None:
    query = parse_promql(expr)
    unknown = query.names - set(SERIES) - RECORDED
    assert not unknown, f"{where}: {sorted(unknown)} are not in services/plumbing/metrics.py"
    assert query.functions <= PROMQL_FUNCTIONS, (
        f"{where}: {sorted(query.functions - PROMQL_FUNCTIONS)}"
    )
    for metric, labels in query.matchers:
        assert metric is not None, f"{where}: a selector without a metric name"
        if metric in RECORDED:
            continue
        allowed = SERIES[metric].labels | TARGET_LABELS
        assert labels <= allowed, f"{where}: {metric} has no label {sorted(labels - allowed)}"
    every_label = {label for s in SERIES.values() for label in s.labels} | TARGET_LABELS
    assert query.grouping <= every_label, (
        f"{where}: no metric has {sorted(query.grouping - every_label)}"
    )


def test_the_promql_reader_finds_names_and_labels() -> None:
    """The checks above are only as good as this reading of PromQL."""
    query = parse_promql(
        'sum by (service) (increase(hub_x_total{result="failed", service=~"$s"}[$__range]))'
        " / on (service) group_left max(hub:y:sum offset 5m) > 0.5 and up == 0"
    )
    assert query.names == {"hub_x_total", "hub:y:sum", "up"}
    assert query.matchers == (("hub_x_total", frozenset({"result", "service"})),)
    assert query.grouping == {"service"}
    assert query.functions == {"sum", "increase", "max"}


def test_every_metric_is_charted() -> None:
    charted = {name for _, expr in _dashboard_queries() for name in parse_promql(expr).names}
    charted_metrics = {SERIES[name].metric for name in charted if name in SERIES}
    for metric in hub_metrics().values():
        (family,) = metric.describe()
        assert family.name in charted_metrics, f"{family.name} is on no dashboard"


def test_dashboards_are_well_formed_and_use_provisioned_datasources() -> None:
    uids = {source["uid"] for source in DATASOURCES["datasources"]}
    assert len(DASHBOARDS) >= 3
    assert len({d["uid"] for d in DASHBOARDS.values()}) == len(DASHBOARDS)
    for name, dashboard in DASHBOARDS.items():
        assert dashboard["title"].startswith("Referral hub"), name
        assert dashboard["editable"] is False, name
        ids = [panel["id"] for panel in iter_panels(dashboard["panels"])]
        assert len(ids) == len(set(ids)), name
        for panel in iter_panels(dashboard["panels"]):
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), (name, panel["title"])
            sources = [panel.get("datasource")] + [
                t.get("datasource") for t in panel.get("targets", [])
            ]
            for source in filter(None, sources):
                assert source["uid"] in uids, (name, panel["title"])
            if panel["type"] not in ("row", "text"):
                assert panel.get("targets"), (name, panel["title"])
                assert panel.get("description"), (name, panel["title"])
        for variable in dashboard["templating"]["list"]:
            found = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
            assert found, variable
            assert found.group(2) in SERIES[found.group(1)].labels


def test_the_dashboards_cover_routing_sla_lag_outbox_and_dead_letters() -> None:
    titles = " | ".join(
        panel["title"].lower() for d in DASHBOARDS.values() for panel in iter_panels(d["panels"])
    )
    for topic in ("by service", "sla", "consumer lag", "outbox", "dead letters"):
        assert topic in titles, topic


def test_the_runbook_explains_every_alert_and_every_panel() -> None:
    anchors = markdown_anchors(RUNBOOK_TEXT)
    for name, rule in ALERTS.items():
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert (ROOT / page).resolve() == RUNBOOK.resolve(), name
        assert anchor == name.lower(), name
        assert anchor in anchors, f"no section for {name}"
    for dashboard in DASHBOARDS.values():
        assert dashboard["title"] in RUNBOOK_TEXT
        for panel in iter_panels(dashboard["panels"]):
            if panel["type"] != "row":
                assert f"**{panel['title']}**" in RUNBOOK_TEXT, f"runbook: {panel['title']}"
    for link in re.findall(r"\]\(#([^)]+)\)", RUNBOOK_TEXT):
        assert link in anchors, f"runbook links to a missing #{link}"


def test_the_readme_operations_section_links_the_runbook() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    operations = readme.split("## Operations", 1)[1].split("\n## ", 1)[0]
    assert "(docs/runbook.md)" in operations
    assert Path(ROOT / "docs" / "runbook.md").exists()
