"""Composition root: builds the intake service from its settings."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from services.plumbing import db
from services.plumbing.cursors import Cursors
from services.plumbing.outbound import OutboundClient
from services.plumbing.runtime import Service
from services.referral_intake.adapters.router_client import RouterClient
from services.referral_intake.adapters.vault import Vault
from services.referral_intake.entrypoints import consumers, http, referrer_webhook, reports
from services.referral_intake.handlers import erasure, identity, notes, reconciliation, watchdog
from services.referral_intake.handlers import referrer_webhook as referrer_hooks
from services.referral_intake.handlers.referrer_webhook import Referrers
from services.referral_intake.settings import IntakeSettings


def build(
    settings: IntakeSettings | None = None,
    *,
    router_transport: httpx.AsyncBaseTransport | None = None,
) -> Service:
    """The intake service; ``router_transport`` reaches ``ROUTER_URL`` some other way than
    the network (a router app in the same process, for tests)."""
    settings = settings or IntakeSettings()
    if not (settings.staff_jwt_public_key or settings.staff_jwt_jwks_url):
        raise SystemExit(
            "STAFF_JWT_PUBLIC_KEY or STAFF_JWT_JWKS_URL is required: intake serves only "
            "signed-in staff."
        )
    router_client = RouterClient(settings.router_url, transport=router_transport)
    vault = Vault(settings.vault_keys, settings.vault_key_id)
    # The vetted client that calls the referrers' webhooks (services/plumbing/outbound.py).
    outbound = settings.webhook_client(purpose="referrer_webhook", service="referral_intake")
    state: dict[str, Referrers] = {}

    async def on_start(pool: asyncpg.Pool, app: FastAPI) -> None:
        app.state.router_client = router_client
        app.state.identity_key = settings.identity_hash_key.encode()
        app.state.worklist_cursors = Cursors(settings.identity_hash_key, "intake-worklist")
        app.state.feed_cursors = Cursors(settings.identity_hash_key, "intake-status-changes")
        app.state.feed_settle = timedelta(seconds=settings.status_feed_settle_seconds)
        app.state.vault = vault
        state["referrers"] = app.state.referrers = Referrers(pool, outbound, settings)
        app.state.report_threshold = settings.report_suppression_threshold
        app.state.resubmission_decision_wait = settings.resubmission_decision_wait_seconds
        async with pool.acquire() as conn, conn.transaction():
            await vault.seal_legacy_entries(conn)
            await notes.seal_clear_text(conn, vault, app.state.identity_key)

    return Service(
        name="referral_intake",
        settings=settings,
        schema=settings.db_schema,
        migrations=Path(__file__).parent / "migrations",
        routers=[http.router, reports.router, referrer_webhook.router],
        not_found=http.NOT_FOUND_DETAIL,
        register_consumers=lambda broker, pool: consumers.register(broker, pool, settings),
        on_start=on_start,
        on_stop=partial(_close, router_client, outbound),
        commands={"rotate-vault": partial(_rotate_vault, settings, vault)},
        background=_background(settings, vault, state),
    )


def _background(
    settings: IntakeSettings, vault: Vault, state: dict[str, Referrers]
) -> list[Callable[[asyncpg.Pool], Coroutine[Any, Any, None]]]:
    """Intake's background jobs, each given the pool once the service has started."""
    return [
        lambda pool: identity.run(pool, vault, settings.identity_hash_key.encode()),
        lambda pool: watchdog.run(pool, settings.watchdog_interval_seconds),
        lambda pool: erasure.run(
            pool,
            vault,
            settings.retention_check_seconds,
            timedelta(days=settings.retention_days),
            also=[partial(referrer_hooks.prune, pool, settings)],
        ),
        lambda pool: referrer_hooks.run(state["referrers"]),
        lambda pool: reconciliation.run(
            pool,
            settings.watchdog_interval_seconds,
            timedelta(seconds=settings.reconcile_after_seconds),
        ),
    ]


async def _close(router_client: RouterClient, outbound: OutboundClient) -> None:
    await router_client.close()
    await outbound.aclose()


async def _rotate_vault(settings: IntakeSettings, vault: Vault) -> str:
    """Re-seal every vault entry under the current key, so retired keys can go."""
    pool = await db.create_pool(
        settings.database_url, settings.db_schema, application_name="rotate-vault"
    )
    resealed = 0
    try:
        while True:
            async with pool.acquire() as conn, conn.transaction():
                done = await vault.rotate(conn)
            resealed += done
            if done == 0:
                break
    finally:
        await pool.close()
    return f"{resealed} vault entries re-sealed under key {settings.vault_key_id!r}"
