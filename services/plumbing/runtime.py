"""The lifecycle every service shares: migrate, open the pool, start the consumers and the
outbox relay, serve, and on SIGTERM stop in the order that loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from faststream.kafka import KafkaBroker
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.types import ASGIApp, Receive, Scope, Send

from services.plumbing import (
    consumer_health,
    consumer_lag,
    db,
    kafka,
    logs,
    migrations,
    telemetry,
)
from services.plumbing.auth import TokenVerifier, staff_token
from services.plumbing.guard import Authenticate, RequestGuard
from services.plumbing.http import (
    NOT_FOUND,
    EventLimit,
    ReadinessCheck,
    SecurityHeaders,
    StrictJson,
    install_asyncapi,
    install_docs,
    install_error_handlers,
    install_operational_routes,
    operations_app,
    serve,
)
from services.plumbing.kafka import PRODUCER_OPTIONS, make_broker
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.openapi import truthful_openapi
from services.plumbing.outbox import OutboxRelay, kafka_publisher
from services.plumbing.relay_producer import RelayProducer, producer_factory
from services.plumbing.settings import ServiceSettings

log = logging.getLogger(__name__)

RegisterConsumers = Callable[[KafkaBroker, asyncpg.Pool], None]


def outbox_relay(
    settings: ServiceSettings, pool: asyncpg.Pool, schema: str
) -> tuple[OutboxRelay, RelayProducer]:
    """The outbox relay of ``schema`` and the producer it publishes with: its own aiokafka
    producer, with the settings of every producer of the hub (acks, idempotence, sizes,
    security), used around FastStream's per-message path and renewed when it can no longer
    publish (``services.plumbing.relay_producer``)."""
    producer = RelayProducer(
        producer_factory(
            {
                **KafkaAccess.of(settings).client_options(),
                **PRODUCER_OPTIONS,
                "client_id": f"{schema}-relay",
            }
        ),
        schema,
    )
    relay = OutboxRelay(
        database_url=settings.database_url,
        pool=pool,
        schema=schema,
        publish=kafka_publisher(producer),
        producer=producer,
        poll_interval=settings.outbox_poll_interval_seconds,
    )
    return relay, producer


class _Guarded:
    """Puts the service's ``RequestGuard`` (made before the middleware stack is built, so
    that readiness can ask it about capacity) in front of the rest of the stack."""

    def __init__(self, app: ASGIApp, guard: RequestGuard) -> None:
        guard.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.guard(scope, receive, send)


def _readiness_checks(app: FastAPI, guard: RequestGuard) -> dict[str, ReadinessCheck]:
    """What ``/readyz`` asks: the database and the broker answer, and the guard has room
    for another request."""

    async def database_ready() -> bool:
        pool = getattr(app.state, "pool", None)
        return pool is not None and await db.is_reachable(pool)

    async def broker_ready() -> bool:
        broker: KafkaBroker | None = getattr(app.state, "broker", None)
        if broker is None:
            return False
        try:
            return bool(await broker.ping(timeout=2.0))
        except Exception:  # any failure to answer is "not ready"
            return False

    async def capacity() -> bool:
        return guard.capacity_ok()

    return {"database": database_ready, "broker": broker_ready, "capacity": capacity}


@dataclass
class Service:
    """One service process: its name, schema, migrations, consumers and HTTP routes."""

    name: str
    settings: ServiceSettings
    schema: str
    migrations: Path
    routers: list[APIRouter] = field(default_factory=list)
    register_consumers: RegisterConsumers | None = None
    info: Callable[[], dict[str, Any]] | None = None
    on_start: Callable[[asyncpg.Pool, FastAPI], Any] | None = None
    on_stop: Callable[[], Any] | None = None
    background: list[Callable[[asyncpg.Pool], Coroutine[Any, Any, None]]] = field(
        default_factory=list
    )
    """Long-running tasks started with the service and cancelled when it stops."""
    commands: dict[str, Callable[[], Coroutine[Any, Any, str]]] = field(default_factory=dict)
    """One-off administrative commands (``python -m services.<name> <command>``)."""
    untraced_paths: list[str] = field(default_factory=list)
    """Paths (regular expressions) given no span: those whose URL holds a secret, such as a
    one-time link's token, which must not reach the traces."""
    authenticate: Authenticate = staff_token
    """How the request guard checks a bearer credential (default: a staff or service JWT)."""
    not_found: str = NOT_FOUND
    """What a 404 says when the code that found nothing did not say it (``NotFound``)."""

    def create_app(self) -> FastAPI:
        """The service's API app: its routes under the middleware every service has, the
        readiness checks, the truthful OpenAPI document, and the operations app beside it
        when the settings name an operations port (``app.state.ops_app``)."""
        self.tracer_provider = telemetry.setup(
            self.name,
            otlp_endpoint=self.settings.otel_exporter_otlp_endpoint,
            spans_file=self.settings.telemetry_spans_file,
        )
        separate_ops = self.settings.http_ops_port is not None
        app = FastAPI(
            title=self.name,
            lifespan=self._lifespan,
            openapi_url=None if separate_ops else "/openapi.json",
            docs_url=None,
            redoc_url=None,
        )
        install_error_handlers(app, self.not_found)
        guard = self._install_middleware(app)
        checks = _readiness_checks(app, guard)
        install_operational_routes(app, checks, info=self.info, with_metrics=not separate_ops)
        for router in self.routers:
            app.include_router(router)
        app.openapi = truthful_openapi(app)  # type: ignore[method-assign]
        if separate_ops:
            app.state.ops_app = operations_app(app, checks, self.info)
        else:
            install_asyncapi(app)
            install_docs(app, self.name)
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            excluded_urls=",".join(["healthz", "readyz", "metrics", *self.untraced_paths]),
            # One span per request, not three more for the ASGI messages inside it.
            exclude_spans=["receive", "send"],
        )
        if self.settings.staff_jwt_public_key or self.settings.staff_jwt_jwks_url:
            app.state.token_verifier = TokenVerifier(
                self.settings.staff_jwt_public_key,
                issuer=self.settings.staff_jwt_issuer,
                audience=self.settings.staff_jwt_audience,
                jwks_url=self.settings.staff_jwt_jwks_url,
            )
        return app

    def _install_middleware(self, app: FastAPI) -> RequestGuard:
        """The middleware stack, innermost first; the request guard it puts in front (kept
        on ``app.state.guard``: readiness asks it about capacity)."""
        # Inside the guard: it parses the body the guard has read (credentials first, then
        # the body within its deadline and size), refusing a duplicated member.
        app.add_middleware(StrictJson)
        app.add_middleware(EventLimit)
        # Inside the latency metric and the security headers: a refusal costs next to
        # nothing and is still counted and well-formed. Credentials are checked, then the
        # body read, before a request counts towards the in-flight limit.
        guard = RequestGuard(
            app.router, limits=self.settings.http_limits(), authenticate=self.authenticate
        )
        app.state.guard = guard
        app.add_middleware(_Guarded, guard=guard)
        if self.settings.cors_allow_origins:
            app.add_middleware(
                CORSMiddleware,
                allow_origins=self.settings.cors_allow_origins,
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            )
        app.add_middleware(SecurityHeaders)
        return guard

    async def migrate(self) -> list[str]:
        """Bring this service's schema up to date (``migrations.components``), if a
        migration job has not already: a service runs as its own role, which may not
        change the schema, so it only checks. Where there is no separate owner (one role
        for everything, as in the in-process tests) it migrates with ``DATABASE_URL``."""
        components = migrations.components(self.migrations)
        settings = self.settings
        if await migrations.is_up_to_date(settings.database_url, self.schema, components):
            return []
        applied = await migrations.apply(
            settings.database_migration_url or settings.database_url,
            self.schema,
            components,
            app_role=settings.database_app_role,
        )
        if applied:
            log.info("migrations applied", extra={"schema": self.schema, "migrations": applied})
        return applied

    def main(self, argv: list[str]) -> None:
        """The process entrypoint: no argument serves; a command's name runs it and exits.
        (``migrate`` never gets here: each service's ``__main__`` runs it with the database
        URL alone, before the settings that serving needs are read.)"""
        logs.configure(self.name, self.settings.log_level, self.settings.log_json)
        if len(argv) == 1 and argv[0] in self.commands:
            print(asyncio.run(self.commands[argv[0]]()))
            return
        if argv:
            known = ", ".join(repr(c) for c in ["migrate", *self.commands])
            raise SystemExit(f"unknown arguments {argv}; use no argument to serve, or {known}")
        app = self.create_app()
        serve(
            app,
            self.settings.http_host,
            self.settings.http_port,
            limits=self.settings.http_limits(),
            trusted_proxies=self.settings.http_trusted_proxies,
            ops_app=getattr(app.state, "ops_app", None),
            ops_host=self.settings.http_ops_host,
            ops_port=self.settings.http_ops_port,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings = self.settings
        await self.migrate()
        pool = await db.create_pool(settings.database_url, self.schema, application_name=self.name)
        if self.on_start is not None:
            await self.on_start(pool, app)
        broker = make_broker(settings, client_id=self.name, tracer_provider=self.tracer_provider)
        if self.register_consumers is not None:
            self.register_consumers(broker, pool)
        await broker.start()
        relay, _ = outbox_relay(settings, pool, self.schema)
        relay_task = asyncio.create_task(relay.run(), name=f"{self.name}-outbox-relay")
        tasks = [asyncio.create_task(work(pool)) for work in self.background]
        tasks.append(
            asyncio.create_task(
                consumer_health.watch_forever(broker), name=f"{self.name}-consumer-health"
            )
        )
        tasks.append(
            asyncio.create_task(
                consumer_lag.sample_forever(
                    broker, KafkaAccess.of(settings), settings.consumer_lag_interval_seconds
                ),
                name=f"{self.name}-consumer-lag",
            )
        )
        app.state.pool, app.state.broker, app.state.relay = pool, broker, relay
        # Everything made so far (modules, models, the policy, the app) lives as long as the
        # process: out of the collector's sight, a full collection pauses the event loop
        # for milliseconds instead of the ~65 ms of CPU it took to walk them all
        # (docs/performance.md).
        gc.freeze()
        log.info("service started", extra={"service": self.name})
        try:
            yield
        finally:
            # Background work and consumers first (consumers finish the message in hand and
            # commit its offset), then the relay (it finishes its batch), then the
            # connections they used.
            kafka.stopping(broker).set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await broker.stop()
            relay.stop()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(relay_task, timeout=5)
            await pool.close()
            if self.on_stop is not None:
                await self.on_stop()
            self.tracer_provider.shutdown()
            log.info("service stopped", extra={"service": self.name})
