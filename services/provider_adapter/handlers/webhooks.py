"""Webhook push: registering where to push, queueing deliveries with the state change that
causes them, and the dispatcher that sends them, signed with Standard Webhooks.

Deliveries live in the database: retries survive a restart, every attempt is recorded, and
at most one delivery per work item is in flight (a lease marks it; a lease that runs out
because the adapter died makes it due again, with the same ``webhook-id``).

The sender guidance of the Standard Webhooks specification (spec/standard-webhooks.md,
"Deliverability and reliability" to "Request timeouts") is followed point by point:
2xx is delivered, a redirect is a failure (never followed); 410 Gone disables the endpoint
(``domain.delivery.Verdict``); 429, 502, 503 and 504 pause every delivery to the receiver
until its ``Retry-After`` (or the backoff); retries back off exponentially with jitter;
a re-registration of the same URL rotates the secret without downtime (both secrets sign,
``v1,<new> v1,<old>``, for ``WEBHOOK_SECRET_OVERLAP_HOURS``); the receiver has
``WEBHOOK_TIMEOUT_SECONDS`` (15 by default, at most 30) to answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from standardwebhooks import Webhook

from schemas.codes import RouteStatus
from services.plumbing import loops, telemetry
from services.plumbing.db import Connection
from services.plumbing.loops import Next
from services.plumbing.metrics import WEBHOOK_ATTEMPTS
from services.plumbing.outbound import OutboundFailed, OutboundRefused, Rule, Target
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.domain import delivery
from services.provider_adapter.domain import work_item as lifecycle
from services.provider_adapter.domain.delivery import Verdict
from services.provider_adapter.handlers.common import Adapter, announce

log = logging.getLogger(__name__)
BATCH = 20
REGISTRATION, DELIVERY = "registration", "delivery"


def _policy(adapter: Adapter) -> delivery.RetryPolicy:
    s = adapter.settings
    return delivery.RetryPolicy(
        first_retry_seconds=s.webhook_first_retry_seconds,
        max_backoff_seconds=s.webhook_max_backoff_seconds,
        give_up_after=timedelta(hours=s.webhook_give_up_hours),
        max_retry_after_seconds=s.webhook_max_retry_after_seconds,
    )


async def register(adapter: Adapter, url: str) -> dict[str, Any]:
    """Push new work items to ``url``. Every registration makes a new signing secret; the
    same URL registered again keeps its previous secret signing beside the new one until
    ``previous_secret_valid_until`` (a rotation without downtime), and enables it again if
    it was disabled (a 410 from it).

    Raises ``OutboundRefused`` when the URL may not be called (services/plumbing/outbound.py:
    https only, the operators' allowlist, no loopback, private, link-local ... address, never
    the hub itself); nothing is stored then."""
    await adapter.outbound.vet(url, stage=REGISTRATION)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    overlap = timedelta(hours=adapter.settings.webhook_secret_overlap_hours)
    async with adapter.pool.acquire() as conn:
        until = await repo.set_webhook(conn, url, secret, datetime.now(UTC) + overlap)
    adapter.deliveries_waiting.set()
    return {
        "url": url,
        "secret": secret,
        "previous_secret_valid_until": until.isoformat() if until else None,
    }


DISABLED_BECAUSE = {
    "gone": "The receiver answered 410 Gone: no more webhooks are sent to it until this "
    "provider registers it again (PUT /v1/webhook). Meanwhile the queue works by polling.",
}


def signing_secrets(row: asyncpg.Record, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one
    while its overlap lasts."""
    found = [row["secret"]]
    previous, until = row["previous_secret"], row["previous_secret_until"]
    if previous and until is not None and until > now:
        found.append(previous)
    return found


async def status(adapter: Adapter) -> dict[str, Any] | None:
    """The registered webhook as its provider sees it: the URL, since when, whether the
    hub refused to call it at delivery (and under which rule), and its deliveries since it
    was registered, by state. None when there is no webhook."""
    async with adapter.pool.acquire() as conn:
        row = await repo.webhook(conn)
        if row is None:
            return None
        counts = await repo.delivery_counts(conn, row["created_at"])
    refused = None
    if row["refused_at"] is not None:
        rule = Rule(row["refused_rule"])
        refused = {"rule": rule.value, "detail": rule.sentence, "at": row["refused_at"]}
    disabled = None
    if row["disabled_at"] is not None:
        reason = row["disabled_reason"]
        disabled = {"reason": reason, "detail": DISABLED_BECAUSE[reason], "at": row["disabled_at"]}
    now = datetime.now(UTC)
    paused = row["paused_until"]
    previous_until = row["previous_secret_until"]
    return {
        "url": row["url"],
        "registered_at": row["created_at"],
        "refused": refused,
        "disabled": disabled,
        "paused_until": paused if paused is not None and paused > now else None,
        "previous_secret_valid_until": previous_until
        if previous_until is not None and previous_until > now
        else None,
        "deliveries": {
            "pending": counts.get("pending", 0) + counts.get("sending", 0),
            "delivered": counts.get("delivered", 0),
            "failed": counts.get("failed", 0),
            "refused": counts.get("refused", 0),
            "disabled": counts.get("disabled", 0),
        },
    }


async def unregister(adapter: Adapter) -> bool:
    async with adapter.pool.acquire() as conn, conn.transaction():
        return await repo.delete_webhook(conn)


async def enqueue(
    conn: Connection,
    adapter: Adapter,
    route_id: uuid.UUID,
    kind: str,
    item: dict[str, Any],
    *,
    sequence: int | None = None,
) -> None:
    """Queue a push about this work item, in the caller's transaction; nothing when the
    provider has no webhook, or its receiver asked for none (410: disabled). ``sequence``
    numbers a kind sent more than once (a reminder is numbered by count when not given; a
    change of contact details by its version)."""
    hook = await repo.webhook(conn)
    if hook is None or hook["disabled_at"] is not None:
        return
    if sequence is None:
        sequence = (
            await repo.count_deliveries(conn, route_id, kind) + 1 if kind == "reminder" else 1
        )
    webhook_id = delivery.webhook_id(route_id, kind, sequence)
    await repo.enqueue_delivery(
        conn, webhook_id, route_id, kind, delivery.payload(kind, item, datetime.now(UTC))
    )
    adapter.deliveries_waiting.set()


@dataclass(frozen=True)
class Answer:
    """What one attempt got: the status (None: no answer), what went wrong, and the
    receiver's ``Retry-After`` as a delay."""

    status_code: int | None
    error: str | None
    retry_after: timedelta | None = None


def signature(signing: list[str], webhook_id: str, at: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated
    (Standard Webhooks, "Webhook headers": how a secret is rotated without downtime)."""
    return " ".join(Webhook(secret).sign(webhook_id, at, body) for secret in signing)


async def _send(
    adapter: Adapter, target: Target, signing: list[str], row: asyncpg.Record
) -> Answer:
    body = json_body(row["payload"])
    sent_at = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": row["webhook_id"],
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature(signing, row["webhook_id"], sent_at, body),
    }
    try:
        response = await adapter.outbound.send(
            target, "POST", content=body.encode(), headers=headers
        )
    except OutboundFailed as exc:
        return Answer(None, exc.reason)
    return Answer(
        response.status_code,
        delivery.failure(response.status_code),
        delivery.retry_after(response.headers.get("retry-after"), datetime.now(UTC)),
    )


def json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


async def _settle(
    adapter: Adapter,
    url: str,
    row: asyncpg.Record,
    answer: Answer,
    duration_ms: int,
) -> None:
    now = datetime.now(UTC)
    attempts = row["attempts"] + 1
    status_code, error = answer.status_code, answer.error
    verdict = delivery.verdict(status_code)
    async with adapter.pool.acquire() as conn, conn.transaction():
        current = await repo.delivery_state(conn, row["webhook_id"])
        if current is None or current["state"] != "sending":
            return  # abandoned meanwhile (webhook removed)
        await repo.record_attempt(
            conn, row["webhook_id"], attempts, now, status_code, error, duration_ms
        )
        if verdict is Verdict.GONE:
            await _disable(conn, adapter, url, "gone", now)
        hook = await repo.webhook(conn)
        # Disabled (by this answer or a concurrent one): nothing more is sent to it.
        stopped = hook is None or hook["disabled_at"] is not None
        if stopped and verdict is not Verdict.DELIVERED:
            WEBHOOK_ATTEMPTS.labels(adapter.service.value, "failed").inc()
            await _end(
                conn,
                adapter,
                row,
                "disabled",
                attempts,
                error,
                now,
                step="delivery_stopped",
                reason="webhook_gone",
            )
            return
        if verdict is Verdict.DELIVERED:
            await _delivered(conn, adapter, row, attempts, now)
            return
        await _not_delivered(conn, adapter, url, row, current, answer, verdict, attempts, now)


async def _delivered(
    conn: Connection, adapter: Adapter, row: asyncpg.Record, attempts: int, now: datetime
) -> None:
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


async def _not_delivered(
    conn: Connection,
    adapter: Adapter,
    url: str,
    row: asyncpg.Record,
    current: asyncpg.Record,
    answer: Answer,
    verdict: Verdict,
    attempts: int,
    now: datetime,
) -> None:
    """A failed attempt: given up after the policy's period, else tried again at the next
    attempt's time (the receiver's pacing honoured: a throttling answer pauses the webhook)."""
    policy = _policy(adapter)
    WEBHOOK_ATTEMPTS.labels(adapter.service.value, "failed").inc()
    first = current["first_attempt_at"] or now
    if policy.gives_up(first, now):
        await _end(
            conn,
            adapter,
            row,
            "failed",
            attempts,
            answer.error,
            now,
            step="delivery_failed",
            reason="webhook_undeliverable",
        )
        return
    next_attempt = policy.next_attempt(attempts, now, retry_after=answer.retry_after)
    if verdict is Verdict.THROTTLE:
        # The receiver is rate-limiting or overloaded: nothing goes to it until then.
        await repo.pause_webhook(conn, url, next_attempt)
    await repo.finish_delivery(
        conn,
        row["webhook_id"],
        state="pending",
        attempts=attempts,
        next_attempt_at=next_attempt,
        error=answer.error,
        at=now,
    )


async def _disable(
    conn: Connection, adapter: Adapter, url: str, reason: str, now: datetime
) -> None:
    """Stop sending to ``url`` (its receiver answered 410 Gone): every delivery waiting for
    it ends ``disabled``, and a new work item its provider was never told of escalates its
    route, as a refused URL does; the provider sees it on ``GET /v1/webhook``."""
    if not await repo.disable_webhook(conn, url, reason, now):
        return
    log.warning(
        "webhook disabled by its receiver",
        extra={"service": adapter.service.value, "reason": reason},
    )
    for waiting in await repo.waiting_deliveries(conn):
        await _end(
            conn,
            adapter,
            waiting,
            "disabled",
            waiting["attempts"],
            "webhook disabled (410 Gone)",
            now,
            step="delivery_stopped",
            reason="webhook_gone",
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


async def deliver_due(adapter: Adapter) -> int:
    """Send what is due now; returns how many deliveries were attempted.

    The URL is vetted again first, every round (its name may have been re-pointed since it
    was registered), and the requests go to the address that was vetted. A URL refused now
    refuses every delivery claimed: each is recorded as ``refused`` and not retried, a work
    item the provider never got escalates its route (step ``delivery_refused``), and the
    webhook shows the refusal to its provider (``GET /v1/webhook``). A name that does not
    resolve at the moment is an ordinary failed attempt, retried."""
    now = datetime.now(UTC)
    async with adapter.pool.acquire() as conn:
        target_row = await repo.webhook(conn)
        if not sendable(target_row, now):
            return 0
        lease = adapter.settings.webhook_timeout_seconds + 30
        claimed = await repo.claim_deliveries(conn, now, lease, BATCH)
    if not claimed or target_row is None:
        return 0
    url, signing = target_row["url"], signing_secrets(target_row, now)
    try:
        target = await adapter.outbound.vet(url, stage=DELIVERY)
    except OutboundRefused as refusal:
        for row in claimed:
            if refusal.rule.transient:
                await _settle(adapter, url, row, Answer(None, refusal.rule.value), 0)
            else:
                await _refuse(adapter, url, row, refusal.rule)
        return len(claimed)

    async def attempt(row: asyncpg.Record) -> None:
        with telemetry.continue_trace(row["trace_context"], "webhook delivery", row["referral_id"]):
            started = time.perf_counter()
            answer = await _send(adapter, target, signing, row)
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            await _settle(adapter, url, row, answer, elapsed_ms)

    await asyncio.gather(*(attempt(row) for row in claimed))
    return len(claimed)


def sendable(hook: asyncpg.Record | None, now: datetime) -> bool:
    """Whether anything may be sent now: a webhook that is registered, not disabled, and
    not paused by its receiver's pacing."""
    if hook is None or hook["disabled_at"] is not None:
        return False
    return hook["paused_until"] is None or hook["paused_until"] <= now


async def _refuse(adapter: Adapter, url: str, row: asyncpg.Record, rule: Rule) -> None:
    with telemetry.continue_trace(
        row["trace_context"], "webhook delivery refused", row["referral_id"]
    ):
        now = datetime.now(UTC)
        error = f"refused: {rule.value}"
        async with adapter.pool.acquire() as conn, conn.transaction():
            current = await repo.delivery_state(conn, row["webhook_id"])
            if current is None or current["state"] != "sending":
                return  # abandoned meanwhile (webhook removed)
            await repo.mark_webhook_refused(conn, url, rule.value, now)
            attempts = row["attempts"] + 1
            await repo.record_attempt(conn, row["webhook_id"], attempts, now, None, error, 0)
            await _end(
                conn,
                adapter,
                row,
                "refused",
                attempts,
                error,
                now,
                step="delivery_refused",
                reason="webhook_refused",
            )


async def _end(
    conn: Connection,
    adapter: Adapter,
    row: asyncpg.Record,
    state: str,
    attempts: int,
    error: str | None,
    now: datetime,
    *,
    step: str,
    reason: str,
) -> None:
    """A delivery that will not be tried again (``failed``: given up; ``refused``: its URL
    may not be called). A new work item its provider was never told of escalates its
    route, so the VAL supervisor sees it."""
    await repo.finish_delivery(
        conn,
        row["webhook_id"],
        state=state,
        attempts=attempts,
        next_attempt_at=None,
        error=error,
        at=now,
    )
    if row["kind"] == "created":
        route_id = row["route_id"]
        await _step(conn, adapter, route_id, step, lifecycle.on_escalated, now, reason=reason)


async def run(adapter: Adapter) -> None:
    """Deliver until cancelled; woken when something is queued, polling as a fallback (a
    retry's time comes round without anyone queueing anything)."""
    for result in ("delivered", "failed"):  # every series from 0: the first failure alerts
        WEBHOOK_ATTEMPTS.labels(adapter.service.value, result)

    async def step() -> Next:
        return Next.AGAIN if await deliver_due(adapter) else Next.WAIT

    await loops.every(
        adapter.settings.delivery_poll_seconds,
        step,
        name=f"webhook_delivery.{adapter.service.value}",
        wake=adapter.deliveries_waiting,
    )
