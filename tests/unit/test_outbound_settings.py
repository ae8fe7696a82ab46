"""The settings behind the vetted outbound client: production refuses the local profile's
allowances, and the hub's own endpoints come from the settings that name them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.plumbing.outbound import Endpoint
from services.provider_adapter.settings import AdapterSettings
from tests.support.services import CREDENTIALS

PRODUCTION: dict[str, object] = {
    "hub_environment": "production",
    "service": "ISVA",
    "database_url": "postgresql://hub:secret@db.internal.example:5433,db2.internal.example/hub",
    "kafka_bootstrap_servers": "kafka-0.example:9092,kafka-1.example:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "adapter-isva",
    "kafka_sasl_password": "a password from a secret file",
    "staff_jwt_issuer": "https://identity.example.invalid/realms/referral-hub",
    "staff_jwt_public_key": CREDENTIALS.public_key_pem,
    "intake_url": "http://referral-intake:8080",
    "intake_service_token": "token",
    "portal_secret_key": "0123456789abcdef" * 4,
    "http_host": "0.0.0.0",
    "http_port": 8080,
    "otel_exporter_otlp_endpoint": "http://otel-collector.observability.svc:4318",
    "log_json": True,
}


def adapter_settings(**overrides: object) -> AdapterSettings:
    return AdapterSettings(**{**PRODUCTION, **overrides})  # type: ignore[arg-type]


def test_production_settings_start_without_the_local_allowances() -> None:
    settings = adapter_settings(webhook_allowed_hosts="hooks.isva-provider.org,*.isva.example")
    assert not settings.outbound_allow_loopback
    assert settings.outbound_hosts_file is None
    assert settings.webhook_allowed_hosts == ["hooks.isva-provider.org", "*.isva.example"]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"outbound_allow_loopback": True}, "OUTBOUND_ALLOW_LOOPBACK"),
        ({"outbound_hosts_file": "/tmp/hosts"}, "OUTBOUND_HOSTS_FILE"),  # noqa: S108
        ({"webhook_insecure_hosts": "127.0.0.1"}, "WEBHOOK_INSECURE_HOSTS"),
        ({"staff_jwt_jwks_url": "http://identity.example/jwks"}, "STAFF_JWT_JWKS_URL"),
    ],
)
def test_production_refuses_to_start_with_a_local_allowance(
    override: dict[str, object], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        adapter_settings(**override)
    # The local and test profiles may use it.
    assert adapter_settings(**override, hub_environment="local")


def test_the_hubs_own_endpoints_come_from_its_settings() -> None:
    settings = adapter_settings(hub_endpoints="providers.hub.example.org:443,router:8080")
    assert set(settings.own_endpoints()) == {
        Endpoint("0.0.0.0", 8080),  # this adapter's own API
        Endpoint("db.internal.example", 5433),
        Endpoint("db2.internal.example", 5432),
        Endpoint("kafka-0.example", 9092),
        Endpoint("kafka-1.example", 9093),
        Endpoint("otel-collector.observability.svc", 4318),
        Endpoint("referral-intake", 8080),
        Endpoint("providers.hub.example.org", 443),
        Endpoint("router", 8080),
    }


def test_the_adapters_client_carries_the_operators_choices() -> None:
    settings = adapter_settings(webhook_allowed_hosts="*.isva.example")
    client = settings.outbound_client(
        purpose="provider_webhook",
        service="ISVA",
        allowed_hosts=settings.webhook_allowed_hosts,
        timeout_seconds=3.0,
    )
    assert client.policy.allowed_hosts == ("*.isva.example",)
    assert not client.policy.allow_loopback
    assert Endpoint("referral-intake", 8080) in client.policy.hub_endpoints
    assert client.total_timeout == 3.0
    assert client.connect_timeout == 3.0
