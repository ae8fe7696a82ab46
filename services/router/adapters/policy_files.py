"""Policy versions on disk: one directory per version, named by its id."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.router.domain.policy.book import NoPolicyInForce, PolicyBook
from services.router.domain.policy.engine import CompiledPolicy
from services.router.domain.policy.validation import PolicyInvalid, Problem, check
from services.router.domain.policy.version import Manifest, PolicyVersion

POLICY_DIR = Path(__file__).resolve().parents[1] / "policy"
log = logging.getLogger(__name__)


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


def _version_directories(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def load_book(root: Path = POLICY_DIR) -> PolicyBook:
    """Every version under ``root``, each checked; one bad version stops the load."""
    compiled: list[CompiledPolicy] = []
    problems: list[Problem] = []
    for directory in _version_directories(root):
        try:
            compiled.append(check(load_version(directory)))
        except PolicyInvalid as exc:
            problems += exc.problems
    if problems:
        raise PolicyInvalid(problems)
    if not compiled:
        raise PolicyInvalid([Problem(str(root), "policy directory", "holds no policy version")])
    return PolicyBook(compiled)


Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(root: Path) -> Fingerprint:
    """Every file under ``root`` with its modification time and size: a change to any
    version (a new directory, an edited manifest or graph) changes it. Cheap: one ``stat``
    per file."""
    found = []
    for path in sorted(root.rglob("*")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # removed while listing
        if path.is_file():
            found.append((str(path.relative_to(root)), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class PolicyLibrary:
    """The policy directory as a running router sees it (no restart): ``refresh`` re-reads
    it when a file changed, and the router's book then holds every version that validates.
    A version that does not is left out and logged with the file, the rule and the problem
    (once per change); the versions that do are served. Should no version be in force
    after a change, the book stays as it was. (At start the router is stricter: one bad
    version stops it, ``load_book``.)"""

    def __init__(self, root: Path, book: PolicyBook, today: Callable[[], date]) -> None:
        self.root, self.book, self._today = root, book, today
        self._seen = fingerprint(root)

    def refresh(self) -> bool:
        """Re-read the directory if it changed; True when the book changed."""
        now = fingerprint(self.root)
        if now == self._seen:
            return False
        self._seen = now
        compiled: list[CompiledPolicy] = []
        for directory in _version_directories(self.root):
            try:
                compiled.append(check(load_version(directory)))
            except PolicyInvalid as exc:
                log.error(
                    "policy version left out: it does not validate",
                    extra={"version": directory.name, "problems": [str(p) for p in exc.problems]},
                )
        fresh = PolicyBook(compiled)
        try:
            in_force = fresh.in_force(self._today()).id
        except NoPolicyInForce:
            log.error("policy directory changed but no version would be in force; kept as it was")
            return False
        before = {v.version for v in self.book.versions()}
        self.book.replace(fresh)
        log.info(
            "policy versions reloaded",
            extra={
                "versions": sorted(p.id for p in compiled),
                "added": sorted({p.id for p in compiled} - before),
                "in_force": in_force,
            },
        )
        return True
