"""The provider portal: a provider's caseworkers work its queue in a browser, each with
their own account. Mounted under ``/portal/`` in the adapter's own process and port (one
process, pool and URL per provider; in production one hostname per provider, so each
portal's cookies stay on it). Server-rendered with the GOV.UK Design System's macros and
working without JavaScript; the pages call the same handlers as the provider API."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.provider_adapter.entrypoints.portal import account_pages, work_pages
from services.provider_adapter.entrypoints.portal.web import (
    ASSETS,
    PREFIX,
    Assets,
    Web,
    load_assets,
    of,
)

__all__ = ["Web", "build_router", "load_assets"]


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.include_router(account_pages.router)
    router.include_router(work_pages.router)

    @router.get(PREFIX + "/assets/{name}")
    async def asset(name: str, request: Request) -> Response:
        assets: Assets = of(request).assets
        if name not in ASSETS:
            return Response(status_code=404)
        return Response(
            assets.files[name],
            media_type=ASSETS[name],
            # The page links each file with a digest of its content: a new build, a new URL.
            headers={"cache-control": "public, max-age=31536000, immutable"},
        )

    @router.get(PREFIX + "/{anything:path}")
    async def not_found(anything: str, request: Request) -> Response:
        return of(request).not_found(request)

    return router
