"""Policy versions on disk: one directory per version, named by its id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.router.domain.policy.book import PolicyBook
from services.router.domain.policy.engine import CompiledPolicy
from services.router.domain.policy.validation import PolicyInvalid, Problem, check
from services.router.domain.policy.version import Manifest, PolicyVersion

POLICY_DIR = Path(__file__).resolve().parents[1] / "policy"


def load_version(directory: Path) -> PolicyVersion:
    manifest_file = directory / "manifest.json"
    try:
        manifest = Manifest.model_validate_json(manifest_file.read_text())
    except FileNotFoundError:
        raise PolicyInvalid([Problem(str(manifest_file), "manifest", "file is missing")]) from None
    except ValidationError as exc:
        problems = [
            Problem(str(manifest_file), ".".join(str(p) for p in e["loc"]) or "manifest", e["msg"])
            for e in exc.errors()
        ]
        raise PolicyInvalid(problems) from None
    if manifest.version != directory.name:
        raise PolicyInvalid(
            [
                Problem(
                    str(manifest_file),
                    "version",
                    f"is {manifest.version} but the directory is {directory.name}",
                )
            ]
        )
    graph_file, adjustments_file = directory / manifest.graph, directory / manifest.adjustments
    return PolicyVersion(
        manifest=manifest,
        graph=_read_graph(graph_file),
        graph_file=str(graph_file),
        adjustments=_read_graph(adjustments_file),
        adjustments_file=str(adjustments_file),
    )


def _read_graph(path: Path) -> dict[str, Any]:
    try:
        graph: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyInvalid([Problem(str(path), "graph", "file is missing")]) from None
    except json.JSONDecodeError as exc:
        raise PolicyInvalid(
            [Problem(str(path), f"line {exc.lineno}", f"not JSON: {exc.msg}")]
        ) from None
    return graph


def load_book(root: Path = POLICY_DIR) -> PolicyBook:
    """Every version under ``root``, each checked; one bad version stops the load."""
    compiled: list[CompiledPolicy] = []
    problems: list[Problem] = []
    for directory in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    ):
        try:
            compiled.append(check(load_version(directory)))
        except PolicyInvalid as exc:
            problems += exc.problems
    if problems:
        raise PolicyInvalid(problems)
    if not compiled:
        raise PolicyInvalid([Problem(str(root), "policy directory", "holds no policy version")])
    return PolicyBook(compiled)
