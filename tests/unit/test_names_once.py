"""Each topic is named once, in ``schemas/`` (issue 17): an event class knows its type and its
topic, code and SQL take them from there, and the deployment files and the contract are
checked against them. Renaming a topic is then a change to ``schemas/topics.py`` (and the
contract) that every other file follows, or a test that says which file did not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from schemas import events, topics
from schemas.codes import Service
from schemas.envelope import CloudEvent
from services.plumbing.events import by_event, outgoing
from services.plumbing.kafka import On
from tests.support.work_items import work_item

ROOT = Path(__file__).resolve().parents[2]
CODE_FOLDERS = ("services", "bench", "deploy", "reports", "tests")
DEPLOYMENT_FILES = (
    *sorted((ROOT / "deploy").rglob("*.yaml")),
    *sorted((ROOT / "deploy").rglob("*.yml")),
    ROOT / "docker-compose.yml",
)
TOPIC_LIKE = re.compile(r"\b(?:referral|queue)\.[a-z_]+\.v\d+(?:\.dlt|\.retry\.\d+)?\b")


def _event_classes(base: type[events.Event] = events.Event) -> list[type[events.Event]]:
    """Every event class (``Event`` and its subclasses, at any depth), base first."""
    found: list[type[events.Event]] = []
    for kind in base.__subclasses__():
        found += [kind, *_event_classes(kind)]
    return found


EVENT_CLASSES = _event_classes()
QUEUED = (events.WorkItem, events.WorkItemCancelled)
"""Published on their provider service's queue rather than on one topic."""


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the nodes that are docstrings: prose, which may name a topic."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
        # A string right after an assignment documents it (as this module's constants do).
        if isinstance(node, ast.Module | ast.ClassDef):
            for before, after in zip(node.body, node.body[1:], strict=False):
                if (
                    isinstance(before, ast.Assign | ast.AnnAssign)
                    and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                ):
                    found.add(id(after.value))
    return found


def _literals_naming_a_topic(path: Path) -> list[str]:
    names = topics.main_topics()
    if path.suffix == ".sql":
        code = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
        return [name for name in names if name in code]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    prose = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and any(name in node.value for name in names)
    ]


def test_a_topic_name_is_a_literal_only_in_schemas() -> None:
    found = {
        str(path.relative_to(ROOT)): literals
        for folder in CODE_FOLDERS
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".sql") and (literals := _literals_naming_a_topic(path))
    }
    assert found == {}, "take these from schemas.topics or the event's class"


def test_the_check_finds_a_topic_in_code_and_sql_but_not_in_prose(tmp_path: Path) -> None:
    idva, status, sla = topics.queue_for(Service.IDVA), topics.REFERRAL_STATUS, topics.REFERRAL_SLA
    code = tmp_path / "handler.py"
    code.write_text(
        f'"""Reads {topics.REFERRAL_ROUTED}."""\n'
        f"TOPIC = '{idva}'\n"
        f'"""Where IDVA\'s work arrives: {idva}."""\n'
        f"SPAN = f'{{TOPIC}}.dlt and {status}.retry.1'\n"
    )
    sql = tmp_path / "001_x.sql"
    sql.write_text(f"-- counts what {sla} carried\nSELECT 1 WHERE topic = '{sla}';\n")
    assert _literals_naming_a_topic(code) == [idva, f".dlt and {status}.retry.1"]
    assert _literals_naming_a_topic(sql) == [sla]


@pytest.mark.parametrize("path", DEPLOYMENT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_deployment_files_name_only_the_topics_schemas_makes(path: Path) -> None:
    """KEDA's triggers and the comments that name topics say what the topic job makes
    (deploy/container/topics.py makes ``topics.all_topics()``): a renamed topic fails here
    until they follow. (tests/unit/test_deployment_kubernetes.py checks that KEDA watches
    exactly what each service subscribes.)"""
    named = set(TOPIC_LIKE.findall(path.read_text(encoding="utf-8")))
    assert named - set(topics.all_topics()) == set()


def _contract_table() -> dict[str, set[str]]:
    """docs/contract.md's table of topics: each topic with the event types it carries."""
    table: dict[str, set[str]] = {}
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < 4 or not cells[1].strip().startswith("`"):
            continue
        kinds = set(re.findall(r"`([a-z_.0-9]+)`", cells[2]))
        for topic in re.findall(r"`([a-z_.0-9]+)`", cells[1]):
            table[topic] = kinds
    return table


def test_every_event_class_has_a_type_and_a_topic() -> None:
    assert len(EVENT_CLASSES) >= 8
    assert len({kind.TYPE for kind in EVENT_CLASSES}) == len(EVENT_CLASSES)
    for kind in EVENT_CLASSES:
        assert kind in QUEUED or kind.TOPIC in topics.main_topics(), kind.__name__


def test_the_contract_names_every_topic_and_what_each_carries() -> None:
    table = _contract_table()
    assert set(topics.main_topics()) <= set(table)
    for kind in EVENT_CLASSES:
        published_on = [topics.queue_for(s) for s in Service] if kind in QUEUED else [kind.TOPIC]
        for topic in published_on:
            assert kind.TYPE in table[topic], (kind.__name__, topic)


@pytest.mark.parametrize("service", list(Service))
def test_an_event_goes_on_its_own_topic_under_its_own_type(service: Service) -> None:
    item = work_item(service)
    event = outgoing(item, source="router", referral_id=item.referral_id)
    assert event.topic == topics.queue_for(service)
    assert event.envelope["type"] == events.WORK_ITEM
    assert event.key == item.referral_id
    cancelled = events.WorkItemCancelled(
        route_id=item.route_id, referral_id=item.referral_id, service=service, reason="override"
    )
    assert outgoing(cancelled, source="router", referral_id=item.referral_id).topic == event.topic


async def _ignore(event: CloudEvent[events.SlaBreached]) -> None:
    del event


def test_handlers_are_filed_under_their_event_class_type() -> None:
    sla = On(CloudEvent[events.SlaBreached], _ignore)
    assert by_event({events.Escalated: sla, events.SlaBreached: sla}) == {
        events.ESCALATED: sla,
        events.SLA_BREACHED: sla,
    }
    with pytest.raises(TypeError):
        by_event({events.WorkItem: sla})
