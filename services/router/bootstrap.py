"""Composition root: builds the router service from its settings. A policy that does not
pass its checks stops the router here, before it consumes anything."""

from __future__ import annotations

import sys
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from schemas.calendar import england_today
from services.plumbing.runtime import Service
from services.router import handlers
from services.router.adapters.policy_files import PolicyLibrary, load_book
from services.router.domain.policy.book import NoPolicyInForce, PolicyBook
from services.router.domain.policy.validation import PolicyInvalid
from services.router.entrypoints import consumers, http
from services.router.settings import RouterSettings


def load_policies(settings: RouterSettings) -> PolicyBook:
    try:
        book = load_book(settings.policy_dir)
        book.in_force(england_today())
    except (PolicyInvalid, NoPolicyInForce) as exc:
        print(
            f"The routing policy in {settings.policy_dir} cannot be used; "
            f"the router will not start:\n{exc}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    return book


def build(settings: RouterSettings | None = None) -> Service:
    settings = settings or RouterSettings()
    policies = load_policies(settings)
    state: dict[str, handlers.Router] = {}

    async def on_start(pool: asyncpg.Pool, app: FastAPI) -> None:
        library = PolicyLibrary(settings.policy_dir, policies, england_today)
        state["router"] = app.state.router = handlers.Router(
            pool=pool, policies=policies, reload=library.refresh
        )

    def register(broker: KafkaBroker, pool: asyncpg.Pool) -> None:
        consumers.register(broker, state["router"], settings)

    def info() -> dict[str, str]:
        return {"policy_version": state["router"].policy_now().id} if state else {}

    return Service(
        name="router",
        settings=settings,
        schema=settings.db_schema,
        migrations=Path(__file__).parent / "migrations",
        routers=[http.router],
        register_consumers=register,
        on_start=on_start,
        info=info,
    )
