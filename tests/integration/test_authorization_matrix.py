"""Every cell of every authorisation table, asked of the running apps: a role the table
allows gets past the door (whatever the handler then says about the request), any other
role gets 403, and no token gets 401. An endpoint missing from its table fails the test."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import HTTPException
from fastapi.routing import APIRoute
from jwt.algorithms import ECAlgorithm

from deploy.localstack.credentials import AUDIENCE, ISSUER, generate, mint
from services.plumbing.auth import ALL_ROLES, SERVICE_ROLE, TokenVerifier
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.runtime import Service
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.entrypoints.authorization import ACCESS as INTAKE_ACCESS
from services.referral_intake.settings import IntakeSettings
from services.router.bootstrap import build as build_router
from services.router.entrypoints.authorization import ACCESS as ROUTER_ACCESS
from services.router.settings import RouterSettings
from tests.support.services import CREDENTIALS, common_env, serving

TOKENS = {
    **CREDENTIALS.staff_tokens,
    SERVICE_ROLE: CREDENTIALS.service_tokens[next(iter(CREDENTIALS.service_tokens))],
}


def _operations(service: Service) -> set[str]:
    """Every endpoint the service's routers declare (none uses a prefix)."""
    return {
        f"{method} {route.path}"
        for router in service.routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


@pytest.fixture(scope="module")
async def apps(
    module_database_url: str, module_kafka: KafkaAccess
) -> AsyncIterator[dict[str, tuple[httpx.AsyncClient, dict[str, frozenset[str]]]]]:
    env = common_env(module_database_url, module_kafka)
    async with AsyncExitStack() as stack:
        router_app = build_router(RouterSettings(**env)).create_app()  # type: ignore[arg-type]
        router = await stack.enter_async_context(serving(router_app))
        # Intake reaches the router this test started, and nothing else: its explanations
        # and simulations forward the caller's token, which must never reach a process the
        # test did not start (another hub on the router's default port, say).
        intake_app = build_intake(
            IntakeSettings(**{**env, "router_url": "http://router.test"}),  # type: ignore[arg-type]
            router_transport=httpx.ASGITransport(app=router_app),
        ).create_app()
        intake = await stack.enter_async_context(serving(intake_app))
        yield {"intake": (intake, INTAKE_ACCESS), "router": (router, ROUTER_ACCESS)}


def test_every_endpoint_is_in_its_table_and_every_row_is_an_endpoint() -> None:
    env = common_env("postgresql://unused", KafkaAccess("unused:1"))
    intake = build_intake(IntakeSettings(**env))  # type: ignore[arg-type]
    router = build_router(RouterSettings(**env))  # type: ignore[arg-type]
    assert _operations(intake) == set(INTAKE_ACCESS)
    assert _operations(router) == set(ROUTER_ACCESS)


def _cells() -> list[tuple[str, str, str]]:
    return [
        (service, operation, role)
        for service, table in (("intake", INTAKE_ACCESS), ("router", ROUTER_ACCESS))
        for operation in sorted(table)
        for role in (*ALL_ROLES, "no token")
    ]


@pytest.mark.parametrize(("service", "operation", "role"), _cells())
async def test_cell(
    apps: dict[str, tuple[httpx.AsyncClient, dict[str, frozenset[str]]]],
    service: str,
    operation: str,
    role: str,
) -> None:
    client, table = apps[service]
    method, template = operation.split(" ", 1)
    path = template.replace("{referral_id}", str(uuid.uuid4()))
    headers = {} if role == "no token" else {"Authorization": f"Bearer {TOKENS[role]}"}
    kwargs: dict[str, object] = {"json": {}} if method in ("POST", "PUT") else {}
    response = await client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    if role == "no token":
        assert response.status_code == 401, response.text
    elif role in table[operation]:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500 or response.status_code == 503, response.text
    else:
        assert response.status_code == 403, response.text
        assert "roles" in response.json()["detail"]


async def test_a_token_from_another_issuer_is_refused(
    apps: dict[str, tuple[httpx.AsyncClient, dict[str, frozenset[str]]]],
) -> None:
    client, _ = apps["intake"]
    stranger = mint(CREDENTIALS.private_key_pem, "someone", ["supervisor"], iss="elsewhere")
    response = await client.get("/v1/referrals", headers={"Authorization": f"Bearer {stranger}"})
    assert response.status_code == 401


def test_tokens_verify_against_the_identity_providers_jwks() -> None:
    public_key = serialization.load_pem_public_key(CREDENTIALS.public_key_pem.encode())
    jwk = json.loads(ECAlgorithm.to_jwk(public_key))  # type: ignore[arg-type]
    jwk.update({"kid": "hub-test-1", "use": "sig", "alg": "ES256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        verifier = TokenVerifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            jwks_url=f"http://127.0.0.1:{server.server_port}/jwks.json",
        )
        signed = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "someone", "roles": ["triage"], "exp": 2**31},
            CREDENTIALS.private_key_pem,
            algorithm="ES256",
            headers={"kid": "hub-test-1"},
        )
        assert verifier.verify(signed).roles == {"triage"}
        other = generate()
        forged = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "someone", "roles": ["triage"], "exp": 2**31},
            other.private_key_pem,
            algorithm="ES256",
            headers={"kid": "hub-test-1"},
        )
        with pytest.raises(HTTPException) as refused:
            verifier.verify(forged)
        assert refused.value.status_code == 401
    finally:
        server.shutdown()
