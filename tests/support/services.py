"""A service app in this process, with its lifespan (migrations, pool, consumers, relay)
running against real PostgreSQL and a real broker."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from deploy.localstack.credentials import AUDIENCE, ISSUER, Credentials, generate
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.adapters.vault import Vault

CREDENTIALS: Credentials = generate()
TEST_VAULT_KEY = base64.b64encode(b"test vault key, never a real one").decode()
TEST_VAULT = Vault({"test-1": TEST_VAULT_KEY}, "test-1")


def kafka_settings(kafka: KafkaAccess) -> dict[str, object]:
    """The settings that make a service reach ``kafka`` as its principal."""
    return {
        "kafka_bootstrap_servers": kafka.bootstrap_servers,
        "kafka_security_protocol": kafka.security_protocol,
        "kafka_sasl_username": kafka.username,
        "kafka_sasl_password": kafka.password,
        "kafka_ssl_cafile": kafka.ssl_cafile,
    }


def common_env(database_url: str, kafka: KafkaAccess) -> dict[str, object]:
    return {
        "database_url": database_url,
        **kafka_settings(kafka),
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 500,
        "staff_jwt_public_key": CREDENTIALS.public_key_pem,
        "staff_jwt_issuer": ISSUER,
        "staff_jwt_audience": AUDIENCE,
        "log_json": False,
        "hub_environment": "test",
        # Service-to-service addresses have no defaults (a fixed local port may be another
        # hub's): a test that needs one service to reach another passes the address of the
        # one it started; otherwise these names never resolve (RFC 2606's .invalid), so
        # nothing, and no credential, leaves the test.
        "router_url": "http://router.invalid",
        "intake_url": "http://referral-intake.invalid",
        "identity_hash_key": "test-identity-key-0123456789abcdef0123",
        "vault_keys": {"test-1": TEST_VAULT_KEY},
        "vault_key_id": "test-1",
        "portal_secret_key": "test portal key, never a real one, 0123456789",
        # Every test client is 127.0.0.1: the authorisation tests' many deliberate 401s must
        # not throttle the ones after them (tests/integration/test_request_guard.py tests
        # the throttle with its own limit).
        "http_failed_authentications": "10000/minute",
    }


@asynccontextmanager
async def serving(app: FastAPI, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test", headers=headers
        ) as client:
            yield client
