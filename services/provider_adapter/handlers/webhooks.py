"""Webhook push: registering where to push, queueing deliveries with the state change that
causes them, and the dispatcher that sends them, signed with Standard Webhooks.

Deliveries live in the database: retries survive a restart, every attempt is recorded, and
at most one delivery per work item is in flight (a lease marks it; a lease that runs out
because the adapter died makes it due again, with the same ``webhook-id``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from standardwebhooks import Webhook

from schemas.codes import RouteStatus
from services.plumbing import telemetry
from services.plumbing.db import CONNECTION_ERRORS, Connection
from services.plumbing.metrics import WEBHOOK_ATTEMPTS
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.domain import delivery
from services.provider_adapter.domain import work_item as lifecycle
from services.provider_adapter.handlers.common import Adapter, Refused, announce

log = logging.getLogger(__name__)
BATCH = 20


def _policy(adapter: Adapter) -> delivery.RetryPolicy:
    s = adapter.settings
    return delivery.RetryPolicy(
        first_retry_seconds=s.webhook_first_retry_seconds,
        max_backoff_seconds=s.webhook_max_backoff_seconds,
        give_up_after=timedelta(hours=s.webhook_give_up_hours),
    )


def _check_url(adapter: Adapter, url: str) -> None:
    parts = urlsplit(url)
    if not parts.hostname:
        raise Refused("The webhook URL needs a host.")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and parts.hostname in adapter.settings.webhook_insecure_hosts:
        return
    raise Refused("Webhooks are only pushed over https.")


async def register(adapter: Adapter, url: str) -> dict[str, str]:
    """Push new work items to ``url``. Every registration makes a new signing secret."""
    _check_url(adapter, url)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    async with adapter.pool.acquire() as conn:
        await repo.set_webhook(conn, url, secret)
    return {"url": url, "secret": secret}


async def unregister(adapter: Adapter) -> bool:
    async with adapter.pool.acquire() as conn, conn.transaction():
        return await repo.delete_webhook(conn)


async def enqueue(
    conn: Connection, adapter: Adapter, route_id: uuid.UUID, kind: str, item: dict[str, Any]
) -> None:
    """Queue a push about this work item, in the caller's transaction; nothing when the
    provider has no webhook."""
    if await repo.webhook(conn) is None:
        return
    sequence = await repo.count_deliveries(conn, route_id, kind) + 1 if kind == "reminder" else 1
    webhook_id = delivery.webhook_id(route_id, kind, sequence)
    await repo.enqueue_delivery(
        conn, webhook_id, route_id, kind, delivery.payload(kind, item, datetime.now(UTC))
    )
    adapter.deliveries_waiting.set()


async def _send(
    client: httpx.AsyncClient, url: str, secret: str, row: asyncpg.Record
) -> tuple[int | None, str | None]:
    body = json_body(row["payload"])
    sent_at = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": row["webhook_id"],
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(row["webhook_id"], sent_at, body),
    }
    try:
        response = await client.post(url, content=body.encode(), headers=headers)
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    return response.status_code, None if delivery.succeeded(
        response.status_code
    ) else f"HTTP {response.status_code}"


def json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


async def _settle(
    adapter: Adapter,
    row: asyncpg.Record,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    now = datetime.now(UTC)
    attempts = row["attempts"] + 1
    policy = _policy(adapter)
    async with adapter.pool.acquire() as conn, conn.transaction():
        current = await repo.delivery_state(conn, row["webhook_id"])
        if current is None or current["state"] != "sending":
            return  # abandoned meanwhile (webhook removed)
        await repo.record_attempt(
            conn, row["webhook_id"], attempts, now, status_code, error, duration_ms
        )
        if delivery.succeeded(status_code):
            WEBHOOK_ATTEMPTS.labels(adapter.service.value, "delivered").inc()
            await repo.finish_delivery(
                conn,
                row["webhook_id"],
                state="delivered",
                attempts=attempts,
                next_attempt_at=None,
                error=None,
                at=now,
            )
            if row["kind"] == "created":
                await _step(conn, adapter, row["route_id"], "delivered", lifecycle.on_viewed, now)
            return
        WEBHOOK_ATTEMPTS.labels(adapter.service.value, "failed").inc()
        first = current["first_attempt_at"] or now
        if policy.gives_up(first, now):
            await repo.finish_delivery(
                conn,
                row["webhook_id"],
                state="failed",
                attempts=attempts,
                next_attempt_at=None,
                error=error,
                at=now,
            )
            if row["kind"] == "created":
                # The provider never got it: escalate, so the VAL supervisor sees it.
                await _step(
                    conn,
                    adapter,
                    row["route_id"],
                    "delivery_failed",
                    lifecycle.on_escalated,
                    now,
                    reason="webhook_undeliverable",
                )
            return
        await repo.finish_delivery(
            conn,
            row["webhook_id"],
            state="pending",
            attempts=attempts,
            next_attempt_at=policy.next_attempt(attempts, now),
            error=error,
            at=now,
        )


async def _step(
    conn: Connection,
    adapter: Adapter,
    route_id: uuid.UUID,
    step: str,
    decide: Any,
    now: datetime,
    reason: str | None = None,
) -> None:
    row = await repo.lock_route(conn, route_id)
    if row is None:
        return
    current = RouteStatus(row["status"])
    after = decide(current)
    if after is current:
        return
    await repo.set_status(conn, route_id, after.value)
    await announce(conn, adapter, row, step, after, now, reason=reason)


async def deliver_due(adapter: Adapter, client: httpx.AsyncClient) -> int:
    """Send what is due now; returns how many deliveries were attempted."""
    async with adapter.pool.acquire() as conn:
        target = await repo.webhook(conn)
        lease = adapter.settings.webhook_timeout_seconds + 30
        claimed = (
            await repo.claim_deliveries(conn, datetime.now(UTC), lease, BATCH) if target else []
        )
    if not claimed or target is None:
        return 0

    async def attempt(row: asyncpg.Record) -> None:
        with telemetry.continue_trace(row["trace_context"], "webhook delivery", row["referral_id"]):
            started = time.perf_counter()
            status_code, error = await _send(client, target["url"], target["secret"], row)
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            await _settle(adapter, row, status_code, error, elapsed_ms)

    await asyncio.gather(*(attempt(row) for row in claimed))
    return len(claimed)


async def run(adapter: Adapter) -> None:
    """Deliver until cancelled; woken when something is queued, polling as a fallback (a
    retry's time comes round without anyone queueing anything)."""
    for result in ("delivered", "failed"):  # every series from 0: the first failure alerts
        WEBHOOK_ATTEMPTS.labels(adapter.service.value, result)
    async with httpx.AsyncClient(timeout=adapter.settings.webhook_timeout_seconds) as client:
        while True:
            adapter.deliveries_waiting.clear()
            try:
                sent = await deliver_due(adapter, client)
            except CONNECTION_ERRORS as exc:
                log.warning(
                    "webhook dispatcher cannot reach the database",
                    extra={"error": type(exc).__name__},
                )
                sent = 0
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    adapter.deliveries_waiting.wait(), adapter.settings.delivery_poll_seconds
                )
