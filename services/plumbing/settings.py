"""Settings every service shares. Each service subclasses ``ServiceSettings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    database_url: str = Field(description="postgresql://user@host:port/database")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_idempotence: bool = Field(
        default=True,
        description="Idempotent producer; the embedded Tansu broker cannot do it, so its "
        "profile turns it off.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=50, description="How long a fetch waits for data; bounds consumer latency."
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        description="Consumer-group session timeout. Joining a group takes about half of it on "
        "Tansu, so the local stack shortens it.",
    )
    kafka_heartbeat_interval_ms: int = 3_000
    http_host: str = "127.0.0.1"
    http_port: int = 8080
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
    consumer_retry_base_seconds: float = Field(
        default=0.2,
        description="First in-place retry delay while the database is unreachable; doubles.",
    )
    consumer_retry_delays_seconds: tuple[float, float, float] = Field(
        default=(5.0, 30.0, 120.0),
        description="Delays of the three retry topics a failed message goes through before "
        "it is dead-lettered.",
    )
    kafka_create_missing_topics: bool = Field(
        default=False,
        description="Create missing topics when publishing fails (the embedded broker forgets "
        "its topics when it restarts). Off where a platform team owns the topics.",
    )
    staff_jwt_public_key: str | None = Field(
        default=None, description="PEM public key that signs staff and service tokens."
    )
    staff_jwt_issuer: str = "referral-hub-local"
    staff_jwt_audience: str = "referral-hub"
