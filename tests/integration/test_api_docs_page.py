"""Every service's ``/docs`` in a real browser (Debian's Chromium through Playwright): Swagger
UI, served by the service itself from the pinned ``swagger-ui-dist``, renders the API's
operations with the page's own content security policy in force, and the browser asks for
nothing outside the service (a closed police or charity network sees the same page). The
app is served over a socket without its lifespan: the docs need no database or broker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from deploy.localstack.ports import free_port
from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.settings import IntakeSettings
from tests.support.browser import chromium
from tests.support.services import common_env
from tests.support.waiting import eventually_sync

_ENV: dict[str, Any] = common_env("postgresql://unused@127.0.0.1:1/x", KafkaAccess("127.0.0.1:1"))


def _apps() -> dict[str, FastAPI]:
    return {
        "intake": build_intake(IntakeSettings(**_ENV)).create_app(),
        "provider": build_adapter(
            AdapterSettings(**_ENV, service=Service.CLIMB, intake_service_token="unused")
        ).create_app(),
    }


@pytest.fixture(scope="module", params=["intake", "provider"])
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    app = _apps()[request.param]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually_sync(lambda: server.started, timeout=20, what="the docs server started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_docs_render_the_operations_from_the_service_alone(served: str) -> None:
    requested: list[str] = []
    refused: list[str] = []
    with chromium() as browser:
        # The page's own content security policy stays in force (no bypass).
        context = browser.new_context()
        page = context.new_page()
        page.on("request", lambda r: requested.append(r.url))
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{served}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        title = page.locator(".info .title").inner_text()
        context.close()
    assert any("/v1/referrals" in p for p in paths), paths
    assert title
    outside = [u for u in requested if not u.startswith((served + "/", "data:"))]
    assert outside == [], outside
    assert f"{served}/openapi.json" in requested
    assert refused == []
