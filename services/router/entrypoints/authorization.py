"""Who may do what at the router: one row per endpoint."""

from __future__ import annotations

ACCESS: dict[str, frozenset[str]] = {
    "POST /v1/decisions/explain": frozenset({"triage", "supervisor", "commissioner"}),
    "GET /v1/policies": frozenset({"triage", "supervisor", "commissioner"}),
    "POST /v1/simulations": frozenset({"commissioner", "supervisor"}),
}
