"""The report's HTTP router on its own, over a test's pool: no broker, no other service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from fastapi import FastAPI

from deploy.localstack.credentials import AUDIENCE, ISSUER
from services.plumbing.auth import TokenVerifier
from services.plumbing.http import install_error_handlers
from services.referral_intake.entrypoints import reports as reports_http
from tests.support.services import CREDENTIALS


@asynccontextmanager
async def report_api(
    pool: asyncpg.Pool, *, threshold: int | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``GET /v1/reports/performance`` as the commissioner; ``threshold``: the
    published edition's (``REPORT_SUPPRESSION_THRESHOLD``), else the default."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(reports_http.router)
    app.state.pool = pool
    if threshold is not None:
        app.state.report_threshold = threshold
    app.state.token_verifier = TokenVerifier(
        CREDENTIALS.public_key_pem, issuer=ISSUER, audience=AUDIENCE
    )
    token = CREDENTIALS.staff_tokens["commissioner"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    ) as client:
        yield client
