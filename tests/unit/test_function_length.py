"""No function under ``services/`` or ``schemas/`` is longer than 60 lines (issue 17): a reader
should see a function's steps at once, and each step should have a name.

The exceptions below are the functions still waiting to be split, each with the reason. The
list can only shrink: a function that has been split must leave it (the test says so), and a
new long function fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("services", "schemas")
MAX_LINES = 60

PENDING: dict[str, str] = {}


def function_lengths() -> dict[str, int]:
    """Every function and method under ``CHECKED``, as ``path:name``, with its length in
    lines from ``def`` to its last line (decorators not counted)."""
    lengths: dict[str, int] = {}
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{path.relative_to(ROOT).as_posix()}:{node.name}"
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    lengths[name] = max(length, lengths.get(name, 0))
    return lengths


def test_no_function_is_longer_than_sixty_lines() -> None:
    too_long = {
        name: length
        for name, length in function_lengths().items()
        if length > MAX_LINES and name not in PENDING
    }
    assert too_long == {}, "split these into named steps"


def test_the_pending_list_holds_only_functions_still_too_long() -> None:
    lengths = function_lengths()
    done = sorted(name for name in PENDING if lengths.get(name, 0) <= MAX_LINES)
    assert done == [], "split or gone: take these out of PENDING"
