"""Composition root: builds one provider's adapter from its settings."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.plumbing.runtime import Service
from services.provider_adapter.adapters import repository
from services.provider_adapter.adapters.intake_client import IntakeVault
from services.provider_adapter.entrypoints import consumers, http
from services.provider_adapter.handlers import webhooks
from services.provider_adapter.handlers.common import Adapter
from services.provider_adapter.settings import AdapterSettings

log = logging.getLogger(__name__)


def build(settings: AdapterSettings | None = None) -> Service:
    settings = settings or AdapterSettings()
    vault = IntakeVault(settings.intake_url, settings.intake_service_token)
    outbound = settings.outbound_client(
        purpose="provider_webhook",
        service=settings.service.value,
        allowed_hosts=settings.webhook_allowed_hosts,
        plain_http_hosts=settings.webhook_insecure_hosts,
        timeout_seconds=settings.webhook_timeout_seconds,
        max_response_bytes=settings.webhook_max_response_bytes,
    )
    state: dict[str, Adapter] = {}

    async def on_start(pool: asyncpg.Pool, app: FastAPI) -> None:
        async with pool.acquire() as conn:
            retired = await repository.replace_configured_keys(conn, settings.provider_key_sha256)
        if retired:
            # Never the hash itself in the log: it names a credential.
            log.warning(
                "PROVIDER_KEY_SHA256 lists keys the provider has retired; they stay retired "
                "(configure a new key instead)",
                extra={"service": settings.service.value, "retired_keys": len(retired)},
            )
        state["adapter"] = app.state.adapter = Adapter(
            service=settings.service,
            pool=pool,
            vault=vault,
            settings=settings,
            outbound=outbound,
        )
        if settings.hub_environment == "production" and not settings.webhook_allowed_hosts:
            log.warning(
                "WEBHOOK_ALLOWED_HOSTS is not set: this provider may register a webhook on "
                "any public host",
                extra={"service": settings.service.value},
            )

    async def on_stop() -> None:
        await vault.close()
        await outbound.aclose()

    def register(broker: KafkaBroker, pool: asyncpg.Pool) -> None:
        consumers.register(broker, state["adapter"], settings)

    return Service(
        name=f"provider_adapter.{settings.service.value}",
        settings=settings,
        schema=settings.db_schema,
        migrations=Path(__file__).parent / "migrations",
        routers=[http.router],
        register_consumers=register,
        on_start=on_start,
        on_stop=on_stop,
        background=[lambda pool: webhooks.run(state["adapter"])],
        info=lambda: {"service": settings.service.value},
        authenticate=http.authenticate_provider,
    )
