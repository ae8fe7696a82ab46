"""A provider adapter's HTTP API in process, over a migrated database, for integration
tests that drive its routes (webhook registration and delivery) without the whole hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.plumbing import db, migrations
from services.plumbing.http import install_error_handlers
from services.plumbing.outbound import OutboundClient
from services.provider_adapter import bootstrap
from services.provider_adapter.adapters import repository
from services.provider_adapter.adapters.intake_client import IntakeVault
from services.provider_adapter.entrypoints import http
from services.provider_adapter.handlers.common import Adapter
from services.provider_adapter.settings import AdapterSettings
from tests.support.services import CREDENTIALS


@asynccontextmanager
async def adapter_api(
    database_url: str, settings: AdapterSettings, outbound: OutboundClient
) -> AsyncIterator[tuple[Adapter, httpx.AsyncClient]]:
    """The adapter for ``settings.service`` (its migrations applied, its configured provider
    keys stored) calling webhooks through ``outbound``, and a client of its API holding the
    provider's key. The pool, the vault's client and ``outbound`` are closed on leaving."""
    migrations_dir = Path(bootstrap.__file__).parent / "migrations"
    await migrations.apply(database_url, settings.db_schema, migrations.components(migrations_dir))
    pool = await db.create_pool(database_url, settings.db_schema, application_name="test")
    async with pool.acquire() as conn:
        await repository.replace_configured_keys(conn, settings.provider_key_sha256)
    vault = IntakeVault(settings.intake_url, settings.intake_service_token)
    service = settings.service
    adapter = Adapter(service=service, pool=pool, vault=vault, settings=settings, outbound=outbound)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(http.router)
    app.include_router(http.outcome_router(service))
    app.state.adapter = adapter
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://adapter",
        headers={"Authorization": f"Bearer {CREDENTIALS.provider_keys[service]}"},
    ) as api:
        yield adapter, api
    await outbound.aclose()
    await vault.close()
    await pool.close()
