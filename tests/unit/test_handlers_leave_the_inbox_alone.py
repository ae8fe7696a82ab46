"""No handler touches the inbox (issue 17): the consumer's unit of work
(``services/plumbing/unit_of_work.py``) records each consumed event there, in the
transaction it hands the handler. A handler that imported ``services.plumbing.inbox`` could
record an event twice or, worse, decide on its own when an event counts as applied."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INBOX = "services.plumbing.inbox"


def handler_modules() -> list[Path]:
    """Every module under ``services/*/handlers*`` (a ``handlers.py`` or a ``handlers/``
    package)."""
    found = set(ROOT.glob("services/*/handlers*.py")) | set(
        ROOT.glob("services/*/handlers*/**/*.py")
    )
    return sorted(found)


def uses_of_the_inbox(source: str) -> list[str]:
    """Where ``source`` imports the inbox module (or anything from it) or calls a function
    through a name it bound to it, as ``line: what``."""
    tree = ast.parse(source)
    bound: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == INBOX or alias.name.startswith(f"{INBOX}."):
                    found.append(f"{node.lineno}: import {alias.name}")
                    bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if node.module == INBOX or f"{node.module}.{alias.name}" == INBOX:
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                    bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if any(called == name or called.startswith(f"{name}.") for name in bound):
                found.append(f"{node.lineno}: {called}()")
    return found


def test_there_are_handler_modules_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in handler_modules()}
    assert "services/router/handlers.py" in names
    assert "services/referral_intake/handlers/decisions.py" in names
    assert "services/provider_adapter/handlers/work_items.py" in names


@pytest.mark.parametrize("path", handler_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_handler_imports_or_calls_the_inbox(path: Path) -> None:
    assert uses_of_the_inbox(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from services.plumbing import inbox\nawait inbox.first_time(c, 'x', i, 't')\n",
            ["1: from services.plumbing import inbox", "2: inbox.first_time()"],
        ),
        (
            "from services.plumbing import outbox, inbox as seen\nseen.first_time_or_redrive()\n",
            ["1: from services.plumbing import inbox", "2: seen.first_time_or_redrive()"],
        ),
        (
            "from services.plumbing.inbox import first_time\nfirst_time(c)\n",
            ["1: from services.plumbing.inbox import first_time", "2: first_time()"],
        ),
        (
            "import services.plumbing.inbox\nservices.plumbing.inbox.first_time(c)\n",
            ["1: import services.plumbing.inbox", "2: services.plumbing.inbox.first_time()"],
        ),
        ("from services.plumbing import outbox\noutbox.add(c, [])\n", []),
    ],
)
def test_the_check_sees_every_way_of_reaching_the_inbox(source: str, expected: list[str]) -> None:
    assert uses_of_the_inbox(source) == expected
