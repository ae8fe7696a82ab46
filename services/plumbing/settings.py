"""Settings every service shares. Each service subclasses ``ServiceSettings``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.plumbing.guard import HttpLimits
from services.plumbing.outbound import (
    Endpoint,
    HostsFileResolver,
    OutboundClient,
    OutboundPolicy,
    Resolver,
    endpoint_of_url,
    endpoints_from,
    system_resolver,
)

LOCAL_ISSUER = "referral-hub-local"
SECRETS_DIR_VARIABLE = "HUB_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/run/secrets"


def secrets_dir() -> str | None:
    """Where settings are also read from files, one per setting named like the field
    (``kafka_sasl_password``, ``database_url`` ...): ``HUB_SECRETS_DIR``, else
    ``/run/secrets`` when it exists (where docker-compose and the Kubernetes manifests mount
    them). An environment variable of the same name wins over a file."""
    chosen = os.environ.get(SECRETS_DIR_VARIABLE)
    if chosen:
        return chosen
    return DEFAULT_SECRETS_DIR if Path(DEFAULT_SECRETS_DIR).is_dir() else None


def comma_list(value: Any) -> Any:
    """``a,b`` in an environment variable is the list ``["a", "b"]``."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class KafkaSettings(BaseSettings):
    """Where the Kafka cluster is and who this process is there (``KafkaAccess``)."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", secrets_dir=secrets_dir()
    )

    kafka_bootstrap_servers: str = Field(
        description="the broker list, host:port,host:port; no default, because a fixed "
        "local port could be another hub's broker"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="SASL_SSL in production (SCRAM-SHA-512 over TLS); SASL_PLAINTEXT on the "
        "local stack's loopback broker.",
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="This process's Kafka principal (SCRAM-SHA-512)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="Its password: a secret file, kafka_sasl_password."
    )
    kafka_ssl_cafile: str | None = Field(
        default=None,
        description="PEM file of the CA the brokers' certificates chain to (SASL_SSL); the "
        "system's trust store when unset.",
    )


class ServiceSettings(KafkaSettings):
    """Settings every service shares; each service subclasses it."""

    database_url: str = Field(
        description="postgresql://role:password@host:port/database, as this service's own "
        "login role (least privilege: the rows of its own schema); a secret file, "
        "database_url."
    )
    database_migration_url: str | None = Field(
        default=None,
        description="The schemas' owner, for migrating at start when no migration job ran "
        "first. Production refuses it: a serving process does not hold the owner's password.",
    )
    database_app_role: str | None = Field(
        default=None, description="This service's own role, given its privileges on migrating."
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=50, description="How long a fetch waits for data; bounds consumer latency."
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        description="Consumer-group session timeout: how long a consumer that died silently "
        "keeps its partitions. The local stack and the tests shorten it.",
    )
    kafka_heartbeat_interval_ms: int = 3_000
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_max_in_flight: int = Field(
        default=64,
        ge=1,
        description="Requests handled at once; more are answered 503 with Retry-After at "
        "once instead of waiting (and holding memory) behind the others.",
    )
    http_max_anonymous_in_flight: int = Field(
        default=8,
        ge=1,
        description="Requests to paths that need no credentials (the API docs, a portal's "
        "login page) handled at once; kept apart from the authenticated work's room.",
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request's line and headers must arrive within this long of the "
        "connection opening (or of the previous answer); else 408 and the connection closes.",
    )
    http_body_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A request's whole body must arrive within this long of its headers; "
        "else 408 and the connection closes.",
    )
    http_max_request_line_bytes: int = Field(
        default=8 * 1024, ge=256, description="Longest request target; longer gets 414."
    )
    http_max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Most bytes of request headers in all; more gets 431.",
    )
    http_max_credential_bytes: int = Field(
        default=4 * 1024,
        ge=256,
        description="Longest Authorization header; a longer one is refused (401) unread.",
    )
    http_failed_authentications: str = Field(
        default="20/minute",
        description="Failed authentications allowed per source address in a moving window "
        "(limits notation: 20/minute, 100/hour); past it, 429 with Retry-After.",
    )
    http_trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies in front of this service (comma-"
        "separated, or CIDR ranges), whose X-Forwarded-For names the client. Empty: the "
        "peer address is the client (a forwarded header is ignored).",
    )
    http_ops_port: int | None = Field(
        default=None,
        description="Serve /metrics, /docs and /openapi.json on this port only (bound to "
        "HTTP_OPS_HOST), not on the API port; production keeps it internal. Unset: both on "
        "the API port.",
    )
    http_ops_host: str | None = Field(
        default=None, description="Address the operations port binds to (default HTTP_HOST)."
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="Where to send traces (OTLP over HTTP), e.g. http://otel-collector:4318",
    )
    telemetry_spans_file: str | None = Field(
        default=None, description="Also write finished spans to this JSON-lines file."
    )
    log_level: str = "INFO"
    log_json: bool = True
    outbox_poll_interval_seconds: float = 1.0
    consumer_lag_interval_seconds: float = 15.0
    """How often each service asks the broker for its consumer groups' lag (``/metrics``)."""
    consumer_retry_base_seconds: float = Field(
        default=0.2,
        description="First in-place retry delay while the database is unreachable; doubles.",
    )
    consumer_retry_delays_seconds: tuple[float, float, float] = Field(
        default=(5.0, 30.0, 120.0),
        description="Delays of the three retry topics a failed message goes through before "
        "it is dead-lettered.",
    )
    staff_jwt_public_key: str | None = Field(
        default=None, description="PEM public key that signs staff and service tokens."
    )
    staff_jwt_jwks_url: str | None = Field(
        default=None,
        description="The identity provider's JWKS URL, instead of a fixed public key "
        "(keys are fetched and cached, so the provider can rotate them).",
    )
    staff_jwt_issuer: str = LOCAL_ISSUER
    staff_jwt_audience: str = "referral-hub"
    hub_environment: Literal["local", "test", "production"] = Field(
        default="production",
        description="``local`` for make run and make demo, ``test`` for the test suite. In "
        "production the settings refuse the development defaults.",
    )
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call this API (comma-separated). None by "
        "default: the upstream UI calls from its own server.",
    )

    outbound_allow_loopback: bool = Field(
        default=False,
        description="Let client-supplied URLs (webhooks) reach loopback addresses, except the "
        "hub's own ports: the local stack's demo and test receivers. Production refuses it.",
    )
    outbound_hosts_file: str | None = Field(
        default=None,
        description="A hosts file (address name ...) read before DNS when vetting "
        "client-supplied URLs, so that tests can point a name at a chosen address. "
        "Production refuses it.",
    )
    hub_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host:port of the hub's other services and public entry points "
        "(comma-separated), never called as a client-supplied URL. The database, the "
        "broker, the OTLP collector and this service's own address are added from their "
        "settings; the local stack lists every service.",
    )

    _split_origins = field_validator("cors_allow_origins", mode="before")(comma_list)
    _split_endpoints = field_validator("hub_endpoints", mode="before")(comma_list)
    _split_proxies = field_validator("http_trusted_proxies", mode="before")(comma_list)

    @field_validator("http_failed_authentications")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError("not a rate such as 20/minute") from exc
        return value

    def http_limits(self) -> HttpLimits:
        return HttpLimits(
            max_in_flight=self.http_max_in_flight,
            max_anonymous_in_flight=self.http_max_anonymous_in_flight,
            header_timeout=self.http_header_timeout_seconds,
            body_timeout=self.http_body_timeout_seconds,
            max_request_line_bytes=self.http_max_request_line_bytes,
            max_header_bytes=self.http_max_header_bytes,
            max_credential_bytes=self.http_max_credential_bytes,
            failed_authentications=self.http_failed_authentications,
        )

    @model_validator(mode="after")
    def _no_development_defaults_in_production(self) -> Self:
        if self.hub_environment == "production":
            problems = self.development_defaults()
            if problems:
                raise ValueError(
                    "development settings outside the local profile: " + "; ".join(problems)
                )
        return self

    def development_defaults(self) -> list[str]:
        """Settings only fit for a laptop; each service adds its own."""
        problems = []
        if self.staff_jwt_issuer == LOCAL_ISSUER:
            problems.append("STAFF_JWT_ISSUER is the local stack's own issuer")
        if self.kafka_security_protocol != "SASL_SSL":
            problems.append(
                "KAFKA_SECURITY_PROTOCOL is not SASL_SSL (the bus would be unencrypted"
                + (" and unauthenticated)" if self.kafka_security_protocol == "PLAINTEXT" else ")")
            )
        if not self.log_json:
            problems.append("LOG_JSON is off")
        if "*" in self.cors_allow_origins:
            problems.append("CORS_ALLOW_ORIGINS allows every origin")
        jwks = self.staff_jwt_jwks_url
        if jwks and not jwks.lower().startswith("https://"):
            problems.append("STAFF_JWT_JWKS_URL is not https (it serves the token signing keys)")
        if self.outbound_allow_loopback:
            problems.append("OUTBOUND_ALLOW_LOOPBACK lets client-supplied URLs reach this machine")
        if self.outbound_hosts_file:
            problems.append("OUTBOUND_HOSTS_FILE overrides DNS for client-supplied URLs")
        if self.database_migration_url:
            problems.append(
                "DATABASE_MIGRATION_URL gives a serving process the schema owner's password "
                "(run the migrate command as a job instead)"
            )
        return problems

    def own_endpoints(self) -> list[Endpoint]:
        """Where the hub itself answers, as far as this service's settings know: its own
        HTTP address, the database, the broker, the OTLP collector, and ``hub_endpoints``.
        Client-supplied URLs are never called there (services/plumbing/outbound.py)."""
        found = endpoints_from([f"{self.http_host}:{self.http_port}"], self.http_port)
        found += _database_endpoints(self.database_url)
        found += endpoints_from(self.kafka_bootstrap_servers.split(","), 9092)
        found += endpoint_of_url(self.otel_exporter_otlp_endpoint)
        found += endpoints_from(self.hub_endpoints, 443)
        return found

    def outbound_client(
        self,
        *,
        purpose: str,
        service: str,
        allowed_hosts: Sequence[str] = (),
        plain_http_hosts: Sequence[str] = (),
        timeout_seconds: float = 10.0,
        max_response_bytes: int = 64 * 1024,
    ) -> OutboundClient:
        """The vetted client for client-supplied URLs (services/plumbing/outbound.py), with
        this profile's loopback allowance and resolver and the hub's own endpoints."""
        resolver: Resolver = (
            HostsFileResolver(Path(self.outbound_hosts_file))
            if self.outbound_hosts_file
            else system_resolver
        )
        return OutboundClient(
            OutboundPolicy(
                allow_loopback=self.outbound_allow_loopback,
                plain_http_hosts=tuple(plain_http_hosts),
                allowed_hosts=tuple(allowed_hosts),
                hub_endpoints=tuple(self.own_endpoints()),
            ),
            purpose=purpose,
            service=service,
            resolver=resolver,
            connect_timeout=min(5.0, timeout_seconds),
            total_timeout=timeout_seconds,
            max_response_bytes=max_response_bytes,
        )


def _database_endpoints(url: str) -> list[Endpoint]:
    """libpq URLs may name several hosts (``postgresql://u@h1:5432,h2:5433/db``)."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return endpoints_from(netloc.split(","), 5432)
