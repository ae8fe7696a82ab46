"""Reading the deployment artefacts (docker-compose.yml, deploy/k8s, deploy/prometheus,
deploy/grafana) for the tests that check them against the code: the settings classes, the
metrics, the consumer groups."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from pydantic_settings import BaseSettings

from services.plumbing import metrics
from services.plumbing.settings import ServiceSettings
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.settings import IntakeSettings
from services.router.settings import RouterSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
RUNBOOK = ROOT / "docs" / "runbook.md"
HUB_IMAGE = "referral-hub"

SETTINGS: dict[str, type[ServiceSettings]] = {
    "services.referral_intake": IntakeSettings,
    "services.router": RouterSettings,
    "services.provider_adapter": AdapterSettings,
}
"""The settings class of each service, by the module that runs it."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def service_module(command: list[str]) -> tuple[str, list[str]] | None:
    """``python -m services.router migrate`` -> (``services.router``, ``["migrate"]``)."""
    if len(command) >= 3 and command[:2] == ["python", "-m"]:
        return command[2], command[3:]
    return None


def setting_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads: each field's name in upper case."""
    return {name.upper() for name in cls.model_fields}


def required_settings(cls: type[BaseSettings]) -> set[str]:
    return {name.upper() for name, field in cls.model_fields.items() if field.is_required()}


def settings_from(
    cls: type[ServiceSettings], env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> ServiceSettings:
    """Builds ``cls`` from exactly ``env``, as a container with that environment would."""
    for name in setting_names(cls):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cls()


_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """A compose value as it is with no variables set: ``${X:-d}`` is ``d``. A variable
    without a default fails the test: the file must work without an environment."""

    def default(match: re.Match[str]) -> str:
        if match.group("default") is None:
            raise AssertionError(f"{match.group(0)} has no default")
        return match.group("default")

    return _INTERPOLATION.sub(default, value)


# ---- metrics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One name a metric is exposed under (``hub_x_total``, ``hub_y_bucket`` ...)."""

    metric: str
    labels: frozenset[str]


TARGET_LABELS = frozenset({"job", "instance", "app"})
"""Labels Prometheus adds to every scraped series (deploy/prometheus/prometheus.yml)."""

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def hub_metrics() -> dict[str, MetricWrapperBase]:
    return {
        name: value for name, value in vars(metrics).items() if isinstance(value, MetricWrapperBase)
    }


def exposed_series() -> dict[str, Series]:
    """Every series name /metrics can show, from services/plumbing/metrics.py, plus ``up``."""
    series = {"up": Series("up", frozenset())}
    for metric in hub_metrics().values():
        labels = frozenset(metric._labelnames)
        for family in metric.describe():
            for suffix in _SUFFIXES[family.type]:
                extra = frozenset({"le"}) if suffix == "_bucket" else frozenset()
                series[family.name + suffix] = Series(family.name, labels | extra)
    return series


# ---- PromQL ---------------------------------------------------------------------------------

# Word lists read better as words.
PROMQL_FUNCTIONS = frozenset(
    """abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max
    clamp_min count count_over_time count_values delta deriv exp floor group histogram_quantile
    holt_winters idelta increase irate label_join label_replace last_over_time ln log2 log10
    max max_over_time min min_over_time predict_linear present_over_time quantile
    quantile_over_time rate resets round scalar sgn sort sort_desc stddev stdvar sum
    sum_over_time time timestamp topk vector""".split()  # noqa: SIM905
)
PROMQL_KEYWORDS = frozenset(
    "and or unless by without on ignoring group_left group_right bool offset inf nan".split()  # noqa: SIM905
)

_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_RANGE = re.compile(r"\[[^\]]*\]")
_MATCHERS = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?")


@dataclass(frozen=True)
class PromQL:
    """What an expression refers to: series names, the labels each selector matches on,
    the labels it groups by, and the functions it calls."""

    names: frozenset[str]
    matchers: tuple[tuple[str | None, frozenset[str]], ...]
    grouping: frozenset[str]
    functions: frozenset[str]


def parse_promql(expr: str) -> PromQL:
    """A light reading of PromQL, enough to find every metric name and label an expression
    uses (not a parser: it does not check syntax)."""
    text = _RANGE.sub(" ", expr)  # [5m], [$__rate_interval], [10m:1m]
    matchers: list[tuple[str | None, frozenset[str]]] = []
    for match in _MATCHERS.finditer(text):
        inner = _STRING.sub('""', match.group(2))
        matchers.append((match.group(1), frozenset(_MATCHER_LABEL.findall(inner))))
    text = _MATCHERS.sub(lambda m: f" {m.group(1) or ''} ", text)
    text = _STRING.sub(" ", text)
    grouping: set[str] = set()
    for match in _GROUPING.finditer(text):
        grouping |= {label.strip() for label in match.group(2).split(",") if label.strip()}
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    functions: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group(1)
        if word.lower() in PROMQL_KEYWORDS:
            continue
        (functions if match.group(2) else names).add(word)
    return PromQL(frozenset(names), tuple(matchers), frozenset(grouping), frozenset(functions))


def recording_rules(rules_file: Mapping[str, Any]) -> set[str]:
    return {
        rule["record"]
        for group in rules_file["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, those inside collapsed rows too."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def markdown_anchors(text: str) -> set[str]:
    """The anchors GitHub makes for a Markdown file's headings."""
    anchors = set()
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            anchors.add(slug)
    return anchors
