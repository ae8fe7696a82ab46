"""Composition root: builds the intake service from its settings."""

from __future__ import annotations

from pathlib import Path

from services.plumbing.runtime import Service
from services.referral_intake.entrypoints import consumers, http
from services.referral_intake.settings import IntakeSettings


def build(settings: IntakeSettings | None = None) -> Service:
    settings = settings or IntakeSettings()
    if not settings.staff_jwt_public_key:
        raise SystemExit("STAFF_JWT_PUBLIC_KEY is required: intake serves only signed-in staff.")
    return Service(
        name="referral_intake",
        settings=settings,
        schema=settings.db_schema,
        migrations=Path(__file__).parent / "migrations",
        routers=[http.router],
        register_consumers=lambda broker, pool: consumers.register(broker, pool, settings),
    )
