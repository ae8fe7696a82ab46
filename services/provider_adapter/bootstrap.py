"""Composition root: builds one provider's adapter from its settings."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.plumbing.runtime import Service
from services.provider_adapter.adapters import repository
from services.provider_adapter.adapters.intake_client import IntakeVault
from services.provider_adapter.entrypoints import consumers, http, portal
from services.provider_adapter.handlers import webhooks
from services.provider_adapter.handlers.common import Adapter
from services.provider_adapter.settings import AdapterSettings


def build(settings: AdapterSettings | None = None) -> Service:
    settings = settings or AdapterSettings()
    vault = IntakeVault(settings.intake_url, settings.intake_service_token)
    state: dict[str, Adapter] = {}
    assets = portal.load_assets()

    async def on_start(pool: asyncpg.Pool, app: FastAPI) -> None:
        async with pool.acquire() as conn:
            await repository.replace_configured_keys(conn, settings.provider_key_sha256)
        state["adapter"] = app.state.adapter = Adapter(
            service=settings.service, pool=pool, vault=vault, settings=settings
        )
        app.state.portal = portal.Web(state["adapter"], assets)

    def register(broker: KafkaBroker, pool: asyncpg.Pool) -> None:
        consumers.register(broker, state["adapter"], settings)

    return Service(
        name=f"provider_adapter.{settings.service.value}",
        settings=settings,
        schema=settings.db_schema,
        migrations=Path(__file__).parent / "migrations",
        routers=[http.router, portal.build_router()],
        register_consumers=register,
        on_start=on_start,
        on_stop=vault.close,
        background=[lambda pool: webhooks.run(state["adapter"])],
        info=lambda: {"service": settings.service.value},
    )
