"""Operational endpoints on their own port (issue 25): with ``HTTP_OPS_PORT`` set, the API
port no longer serves ``/metrics``, ``/docs`` or ``/openapi.json``; the operations app does,
with the same health and readiness checks."""

from __future__ import annotations

import httpx

from services.plumbing.kafka_access import KafkaAccess
from services.router.bootstrap import build
from services.router.settings import RouterSettings
from tests.support.services import common_env


def _settings(**extra: object) -> RouterSettings:
    env = common_env("postgresql://unused@127.0.0.1:1/none", KafkaAccess("127.0.0.1:1"))
    return RouterSettings(**{**env, **extra})  # type: ignore[arg-type]


async def _get(app: object, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://router",
    ) as client:
        return await client.get(path)


async def test_with_an_operations_port_the_api_port_serves_no_docs_or_metrics() -> None:
    app = build(_settings(http_ops_port=9100)).create_app()
    ops = app.state.ops_app
    for path in ("/metrics", "/docs", "/openapi.json"):
        assert (await _get(app, path)).status_code == 404, path
    metrics = await _get(ops, "/metrics")
    assert metrics.status_code == 200
    assert "hub_http_refusals_total" in metrics.text
    assert (await _get(ops, "/docs")).status_code == 200
    spec = (await _get(ops, "/openapi.json")).json()
    assert "/v1/simulations" in spec["paths"]
    assert (await _get(ops, "/healthz")).json() == {"status": "ok"}
    # Nothing of the API is reachable there.
    assert (await _get(ops, "/v1/policies")).status_code == 404


async def test_without_one_everything_is_on_the_api_port() -> None:
    app = build(_settings()).create_app()
    assert getattr(app.state, "ops_app", None) is None
    for path in ("/metrics", "/docs", "/openapi.json"):
        assert (await _get(app, path)).status_code == 200, path
