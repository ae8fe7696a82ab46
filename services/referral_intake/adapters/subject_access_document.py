"""A subject access export (``handlers.subject_access``) as one readable HTML document, for
the person who asked: what is held about them, in plain words and tables, every value
escaped; no script, nothing fetched, prints as it shows. Times are London's."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from schemas.calendar import LONDON

TEMPLATES = Path(__file__).parent / "templates"


def _london(at: str | datetime | None) -> str:
    if not at:
        return ""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    local = moment.astimezone(LONDON)
    return f"on {local.day} {local:%B %Y} at {local:%H:%M}"


def _words(code: object) -> str:
    return str(code).replace("_", " ")


def _shown(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(_words(v) for v in value) or "none"
    return str(value)


def _flat(facts: dict[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """``{"subject": {"age": 34}}`` as ``[("subject age", 34)]``."""
    rows: list[tuple[str, object]] = []
    for name, value in (facts or {}).items():
        label = f"{prefix}{_words(name)}"
        if isinstance(value, dict):
            rows += _flat(value, f"{label} ")
        elif value is not None:
            rows.append((label, value))
    return rows


_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_ENV.filters.update(london=_london, words=_words, shown=_shown, flat=_flat)
_DOCUMENT = _ENV.get_template("subject_access.html")


def render(export: dict[str, Any]) -> str:
    """The export as an HTML document (every value escaped)."""
    return _DOCUMENT.render(export=export)
