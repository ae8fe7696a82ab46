"""Composition root: builds the router service from its settings."""

from __future__ import annotations

from pathlib import Path

from services.plumbing.runtime import Service
from services.router.domain import policy
from services.router.entrypoints import consumers
from services.router.settings import RouterSettings


def build(settings: RouterSettings | None = None) -> Service:
    settings = settings or RouterSettings()
    return Service(
        name="router",
        settings=settings,
        schema=settings.db_schema,
        migrations=Path(__file__).parent / "migrations",
        register_consumers=lambda broker, pool: consumers.register(broker, pool, settings),
        info=lambda: {"policy_version": policy.VERSION},
    )
