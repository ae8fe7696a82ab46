"""The figures of a performance report as the CSV should carry them, read from the JSON
by the tests themselves (not by ``domain.performance.flatten``, which the CSV is made
with), so that the two formats are checked against each other and not against one code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Figure = tuple[str, str, str]
"""(service, sub-service, figure): a service's own figures have sub-service ""; the totals
are service "all"; nested figures have dotted names."""


def figures(report: Mapping[str, Any]) -> dict[Figure, Any]:
    found: dict[Figure, Any] = {}

    def leaves(service: str, sub: str, value: Any, name: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                leaves(service, sub, inner, f"{name}.{key}" if name else key)
        else:
            found[(service, sub, name)] = value

    for service, own in [*report["services"].items(), ("all", report["totals"])]:
        for key, value in own.items():
            if key == "sub_services":
                for sub, sub_figures in value.items():
                    leaves(service, sub, sub_figures, "")
            else:
                leaves(service, "", value, key)
    # The equality section: service "equality", the referral source as sub-service.
    section = report.get("equality") or {}
    for key, value in section.items():
        if key == "by_source":
            for source, block in value.items():
                leaves("equality", source, block, "")
        elif key not in ("from", "to"):
            leaves("equality", "", value, key)
    return found
