"""Composition root: builds one provider's adapter from its settings."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from schemas.refusals import Refused
from services.plumbing import db
from services.plumbing.outbound import OutboundClient
from services.plumbing.runtime import Service
from services.provider_adapter.adapters import repository
from services.provider_adapter.adapters.intake_client import IntakeVault
from services.provider_adapter.domain.accounts import (
    display_name_problem,
    normalise_username,
    username_problem,
)
from services.provider_adapter.entrypoints import consumers, http, portal
from services.provider_adapter.handlers import accounts, webhooks
from services.provider_adapter.handlers.common import Adapter
from services.provider_adapter.settings import AdapterSettings

log = logging.getLogger(__name__)


def _webhook_client(settings: AdapterSettings) -> OutboundClient:
    """The vetted client that calls this provider's webhook (services/plumbing/outbound.py)."""
    return settings.webhook_client(purpose="provider_webhook", service=settings.service.value)


def build(settings: AdapterSettings | None = None) -> Service:
    settings = settings or AdapterSettings()
    vault = IntakeVault(settings.intake_url, settings.intake_service_token)
    outbound = _webhook_client(settings)
    state: dict[str, Adapter] = {}
    assets = portal.load_assets()

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
        app.state.portal = portal.Web(state["adapter"], assets)
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
        routers=[http.router, http.outcome_router(settings.service), portal.build_router()],
        not_found=http.NOT_FOUND,
        register_consumers=register,
        on_start=on_start,
        on_stop=on_stop,
        background=[
            lambda pool: webhooks.run(state["adapter"]),
            lambda pool: webhooks.keep_for_retention(state["adapter"]),
        ],
        info=lambda: {"service": settings.service.value},
        # An invitation link's path is its one-time token; the assets are not worth a span.
        untraced_paths=["portal/invitations/", "portal/assets/"],
        authenticate=http.authenticate_provider,
    )


def invite_administrator(argv: list[str]) -> int:
    """A provider's first administrator (or another, when none can sign in): prints a
    one-time invitation link. ``PORTAL_PUBLIC_URL`` makes it absolute. Run where the
    adapter's settings are (its container), after its migrations."""
    if len(argv) != 2:
        print(
            'usage: python -m services.provider_adapter invite-administrator USERNAME "Full Name"'
        )
        return 2
    username, name = normalise_username(argv[0]), argv[1].strip()
    problem = username_problem(username) or display_name_problem(name)
    if problem:
        print(problem)
        return 2
    settings = AdapterSettings()

    async def invite() -> int:
        pool = await db.create_pool(
            settings.database_url, settings.db_schema, application_name="invite-administrator"
        )
        vault = IntakeVault(settings.intake_url, settings.intake_service_token)
        outbound = _webhook_client(settings)
        try:
            adapter = Adapter(
                service=settings.service,
                pool=pool,
                vault=vault,
                settings=settings,
                outbound=outbound,
            )
            token, expires_at = await accounts.first_administrator(
                adapter, username=username, display_name=name
            )
        except Refused as exc:
            print(exc.sentence)
            return 1
        finally:
            await pool.close()
            await vault.close()
            await outbound.aclose()
        base = (settings.portal_public_url or "").rstrip("/")
        print(f"Invitation for {name} ({username}), administrator of the {settings.service.value}")
        print(f"portal; it works once, until {expires_at:%Y-%m-%d %H:%M} UTC:")
        print(f"  {base}/portal/invitations/{token}")
        return 0

    return asyncio.run(invite())
