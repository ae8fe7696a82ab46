"""Webhook push, for every service that pushes to a client's receiver (a provider's case
system from its adapter, the upstream triage UI from intake): registering where to push,
the dispatcher that sends what is queued, signed with Standard Webhooks, and how each
answer is settled. Where it is stored, and what a delivery that ends means to its service,
the service supplies (a ``webhook_store.TableStore`` and ``Outcomes``); the mechanics are
here, once.

Deliveries live in the database: retries survive a restart, every attempt is recorded, and
at most one delivery per ordering key (a work item's lane, a referral) is in flight (a lease
marks it; a lease that runs out because the sender died makes it due again, with the same
``webhook-id``). The dispatcher is woken by the commit that queued work
(``webhook_wakeups``) and otherwise sleeps until the next delivery comes due; the retention
job removes old deliveries (``prune``).

The sender guidance of the Standard Webhooks specification (spec/standard-webhooks.md,
"Deliverability and reliability" to "Request timeouts") is followed point by point:
2xx is delivered, a redirect is a failure (never followed); 410 Gone disables the endpoint
(``webhook_rules.Verdict``); 429, 502, 503 and 504 pause every delivery to the receiver
until its ``Retry-After`` (or the backoff); retries back off exponentially with jitter;
a re-registration of the same URL rotates the secret without downtime (both secrets sign,
``v1,<new> v1,<old>``, for ``WEBHOOK_SECRET_OVERLAP_HOURS``); the receiver has
``WEBHOOK_TIMEOUT_SECONDS`` (15 by default, at most 30) to answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol

import asyncpg
from pydantic import Field, field_validator
from pydantic_settings import NoDecode
from standardwebhooks import Webhook

from services.plumbing import loops, telemetry, webhook_wakeups
from services.plumbing.db import Connection
from services.plumbing.loops import Next
from services.plumbing.metrics import WEBHOOK_ATTEMPTS
from services.plumbing.outbound import (
    OutboundClient,
    OutboundFailed,
    OutboundRefused,
    Rule,
    Target,
)
from services.plumbing.settings import ServiceSettings, comma_list
from services.plumbing.webhook_rules import (
    RetryPolicy,
    Verdict,
    canonical_url,
    failure,
    retry_after,
    verdict,
)
from services.plumbing.webhook_store import TableStore, WebhookTables, delete_ended

log = logging.getLogger(__name__)
BATCH = 20
REGISTRATION, DELIVERY = "registration", "delivery"


class WebhookSettings(ServiceSettings):
    """How a service that pushes webhooks sends them (the same ``WEBHOOK_*`` variables for
    every such service)."""

    webhook_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        le=30,
        description="How long the receiver has to answer a delivery. Standard Webhooks "
        "recommends 15 to 30 seconds, so that a receiver has time to process; past it the "
        "attempt failed and is retried.",
    )
    webhook_first_retry_seconds: float = Field(default=2.0, gt=0)
    webhook_max_backoff_seconds: float = Field(default=300.0, gt=0)
    webhook_max_retry_after_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="The longest Retry-After a receiver's 429 or 503 is honoured for; nothing "
        "is sent to it meanwhile.",
    )
    webhook_secret_overlap_hours: float = Field(
        default=24.0,
        ge=0,
        description="After the same URL is registered again (a new secret), how long the "
        "previous secret keeps signing deliveries beside it, so the receiver can switch "
        "without missing one.",
    )
    webhook_give_up_hours: float = Field(default=24.0, gt=0)
    webhook_insecure_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts a webhook may reach over plain http (the local stack: 127.0.0.1, "
        "localhost, *.localhost). Everywhere else webhooks must be https.",
    )
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="The only hosts a webhook registered here may use (comma-separated; "
        "*.example.org for any name under example.org). Empty: any public host. Production "
        "deployments set it to the receivers' own domains.",
    )
    webhook_max_response_bytes: int = Field(
        default=65_536,
        gt=0,
        description="How much of a webhook answer's body is read; the rest is dropped.",
    )
    delivery_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="The webhook dispatcher's fallback poll: it is woken when work is queued "
        "(PostgreSQL LISTEN/NOTIFY) and sleeps until the next retry comes due, and looks "
        "at least this often besides, in case a wake-up was lost.",
    )
    webhook_keep_delivered_days: float = Field(
        default=30.0,
        gt=0,
        description="How long a delivered webhook (and its attempts) is kept after it was "
        "queued, for answering a receiver who asks what was sent (docs/runbook.md, "
        '"Webhook deliveries kept").',
    )
    webhook_keep_ended_days: float = Field(
        default=90.0,
        gt=0,
        description="How long a delivery that never arrived (failed, refused, disabled by a "
        "410, abandoned or withdrawn) is kept after it was queued, with every attempt's "
        "answer, for operations to investigate.",
    )
    retention_check_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the retention job runs (removing old webhook deliveries; on "
        "intake, erasing personal data too).",
    )

    _split_hosts = field_validator(
        "webhook_insecure_hosts", "webhook_allowed_hosts", mode="before"
    )(comma_list)

    def development_defaults(self) -> list[str]:
        problems = super().development_defaults()
        if self.webhook_insecure_hosts:
            problems.append("WEBHOOK_INSECURE_HOSTS lets webhooks travel unencrypted")
        return problems

    def webhook_client(self, *, purpose: str, service: str) -> OutboundClient:
        """The vetted client that calls registered webhooks (services/plumbing/outbound.py)."""
        return self.outbound_client(
            purpose=purpose,
            service=service,
            allowed_hosts=self.webhook_allowed_hosts,
            plain_http_hosts=self.webhook_insecure_hosts,
            timeout_seconds=self.webhook_timeout_seconds,
            max_response_bytes=self.webhook_max_response_bytes,
        )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            first_retry_seconds=self.webhook_first_retry_seconds,
            max_backoff_seconds=self.webhook_max_backoff_seconds,
            give_up_after=timedelta(hours=self.webhook_give_up_hours),
            max_retry_after_seconds=self.webhook_max_retry_after_seconds,
        )


class Outcomes(Protocol):
    """What a delivery's end means to the service that queued it, in the same transaction."""

    async def delivered(self, conn: Connection, row: asyncpg.Record, now: datetime) -> None: ...

    async def ended(
        self, conn: Connection, row: asyncpg.Record, now: datetime, *, step: str, reason: str
    ) -> None:
        """Not delivered and not tried again: ``step`` is ``delivery_failed`` (given up),
        ``delivery_refused`` (its URL may not be called) or ``delivery_stopped`` (410)."""


class NoOutcomes:
    """For a service to which a delivery's end means nothing beyond its own record."""

    async def delivered(self, conn: Connection, row: asyncpg.Record, now: datetime) -> None:
        return None

    async def ended(
        self, conn: Connection, row: asyncpg.Record, now: datetime, *, step: str, reason: str
    ) -> None:
        return None


@dataclass(frozen=True)
class Sender:
    """One owner's webhook: where it is stored, what its outcomes mean, the pool, the vetted
    client, the settings, the label of the ``hub_webhook_attempts_total`` series, a signal
    that wakes the dispatcher, and what the receiver's 410 means to its owner (shown on
    ``GET /v1/webhook``)."""

    store: TableStore
    outcomes: Outcomes
    pool: asyncpg.Pool
    outbound: OutboundClient
    settings: WebhookSettings
    label: str
    waiting: asyncio.Event
    disabled_because: Mapping[str, str]


async def register(sender: Sender, url: str) -> dict[str, Any]:
    """Push to ``url``. Every registration makes a new signing secret; the same URL
    registered again keeps its previous secret signing beside the new one until
    ``previous_secret_valid_until`` (a rotation without downtime), and enables it again if
    it was disabled (a 410 from it).

    The URL is stored (and answered) in its one spelling (``webhook_rules.canonical_url``),
    so that another spelling of the same receiver is the same URL.

    Raises ``OutboundRefused`` when the URL may not be called (services/plumbing/outbound.py:
    https only, the operators' allowlist, no loopback, private, link-local ... address, never
    the hub itself); nothing is stored then."""
    url = canonical_url(url)
    await sender.outbound.vet(url, stage=REGISTRATION)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    overlap = timedelta(hours=sender.settings.webhook_secret_overlap_hours)
    async with sender.pool.acquire() as conn, conn.transaction():
        await sender.store.respell(conn, url)
        until = await sender.store.set_webhook(conn, url, secret, datetime.now(UTC) + overlap)
    sender.waiting.set()
    return {
        "url": url,
        "secret": secret,
        "previous_secret_valid_until": until.isoformat() if until else None,
    }


def signing_secrets(row: asyncpg.Record, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one
    while its overlap lasts."""
    found = [row["secret"]]
    previous, until = row["previous_secret"], row["previous_secret_until"]
    if previous and until is not None and until > now:
        found.append(previous)
    return found


def _until(value: datetime | None, now: datetime) -> datetime | None:
    return value if value is not None and value > now else None


async def status(sender: Sender) -> dict[str, Any] | None:
    """The registered webhook as its owner sees it: the URL, since when, whether the hub
    refused to call it at delivery (and under which rule), whether its receiver disabled
    it, and its deliveries since it was registered, by state. None when there is no
    webhook."""
    async with sender.pool.acquire() as conn:
        row = await sender.store.webhook(conn)
        if row is None:
            return None
        counts = await sender.store.delivery_counts(conn, row["created_at"])
    refused = None
    if row["refused_at"] is not None:
        rule = Rule(row["refused_rule"])
        refused = {"rule": rule.value, "detail": rule.sentence, "at": row["refused_at"]}
    disabled = None
    if row["disabled_at"] is not None:
        reason = row["disabled_reason"]
        detail = sender.disabled_because[reason]
        disabled = {"reason": reason, "detail": detail, "at": row["disabled_at"]}
    now = datetime.now(UTC)
    return {
        "url": row["url"],
        "registered_at": row["created_at"],
        "refused": refused,
        "disabled": disabled,
        "paused_until": _until(row["paused_until"], now),
        "previous_secret_valid_until": _until(row["previous_secret_until"], now),
        "deliveries": {
            "pending": counts.get("pending", 0) + counts.get("sending", 0),
            "delivered": counts.get("delivered", 0),
            "failed": counts.get("failed", 0),
            "refused": counts.get("refused", 0),
            "disabled": counts.get("disabled", 0),
        },
    }


async def unregister(sender: Sender) -> bool:
    """Remove the webhook; what was waiting for it is abandoned. False when there was none."""
    async with sender.pool.acquire() as conn, conn.transaction():
        return await sender.store.delete_webhook(conn)


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


def json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


async def _send(sender: Sender, target: Target, signing: list[str], row: asyncpg.Record) -> Answer:
    body = json_body(row["payload"])
    sent_at = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": row["webhook_id"],
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature(signing, row["webhook_id"], sent_at, body),
    }
    try:
        response = await sender.outbound.send(
            target, "POST", content=body.encode(), headers=headers
        )
    except OutboundFailed as exc:
        return Answer(None, exc.reason)
    return Answer(
        response.status_code,
        failure(response.status_code),
        retry_after(response.headers.get("retry-after"), datetime.now(UTC)),
    )


async def _settle(
    sender: Sender, url: str, row: asyncpg.Record, answer: Answer, duration_ms: int
) -> None:
    now = datetime.now(UTC)
    attempts = row["attempts"] + 1
    status_code, error = answer.status_code, answer.error
    judged = verdict(status_code)
    store = sender.store
    async with sender.pool.acquire() as conn, conn.transaction():
        current = await store.delivery_state(conn, row["webhook_id"])
        if current is None or current["state"] != "sending":
            return  # abandoned meanwhile (webhook removed)
        await store.record_attempt(
            conn, row["webhook_id"], attempts, now, status_code, error, duration_ms
        )
        if judged is Verdict.GONE:
            await _disable(conn, sender, url, "gone", now)
        hook = await store.webhook(conn)
        # Disabled (by this answer or a concurrent one): nothing more is sent to it.
        stopped = hook is None or hook["disabled_at"] is not None
        if stopped and judged is not Verdict.DELIVERED:
            WEBHOOK_ATTEMPTS.labels(sender.label, "failed").inc()
            await _end(conn, sender, row, "disabled", attempts, error, now, *STOPPED)
            return
        if judged is Verdict.DELIVERED:
            WEBHOOK_ATTEMPTS.labels(sender.label, "delivered").inc()
            await store.finish_delivery(
                conn,
                row["webhook_id"],
                state="delivered",
                attempts=attempts,
                next_attempt_at=None,
                error=None,
                at=now,
            )
            await sender.outcomes.delivered(conn, row, now)
            return
        await _not_delivered(conn, sender, url, row, current, answer, judged, attempts, now)


STOPPED = ("delivery_stopped", "webhook_gone")
GIVEN_UP = ("delivery_failed", "webhook_undeliverable")
REFUSED = ("delivery_refused", "webhook_refused")


async def _not_delivered(
    conn: Connection,
    sender: Sender,
    url: str,
    row: asyncpg.Record,
    current: asyncpg.Record,
    answer: Answer,
    judged: Verdict,
    attempts: int,
    now: datetime,
) -> None:
    """A failed attempt: given up after the policy's period, else tried again at the next
    attempt's time (the receiver's pacing honoured: a throttling answer pauses the webhook)."""
    policy = sender.settings.retry_policy()
    WEBHOOK_ATTEMPTS.labels(sender.label, "failed").inc()
    first = current["first_attempt_at"] or now
    if policy.gives_up(first, now):
        await _end(conn, sender, row, "failed", attempts, answer.error, now, *GIVEN_UP)
        return
    next_attempt = policy.next_attempt(attempts, now, retry_after=answer.retry_after)
    if judged is Verdict.THROTTLE:
        # The receiver is rate-limiting or overloaded: nothing goes to it until then.
        await sender.store.pause_webhook(conn, url, next_attempt)
    await sender.store.finish_delivery(
        conn,
        row["webhook_id"],
        state="pending",
        attempts=attempts,
        next_attempt_at=next_attempt,
        error=answer.error,
        at=now,
    )


async def _disable(conn: Connection, sender: Sender, url: str, reason: str, now: datetime) -> None:
    """Stop sending to ``url`` (its receiver answered 410 Gone): every delivery waiting for
    it ends ``disabled``; its owner sees it on ``GET /v1/webhook``."""
    if not await sender.store.disable_webhook(conn, url, reason, now):
        return
    log.warning(
        "webhook disabled by its receiver", extra={"service": sender.label, "reason": reason}
    )
    for waiting in await sender.store.waiting_deliveries(conn):
        error = "webhook disabled (410 Gone)"
        await _end(conn, sender, waiting, "disabled", waiting["attempts"], error, now, *STOPPED)


async def _end(
    conn: Connection,
    sender: Sender,
    row: asyncpg.Record,
    state: str,
    attempts: int,
    error: str | None,
    now: datetime,
    step: str,
    reason: str,
) -> None:
    """A delivery that will not be tried again (``failed``: given up; ``refused``: its URL
    may not be called; ``disabled``: its receiver answered 410); the owner's ``Outcomes``
    says what that means to it."""
    await sender.store.finish_delivery(
        conn,
        row["webhook_id"],
        state=state,
        attempts=attempts,
        next_attempt_at=None,
        error=error,
        at=now,
    )
    await sender.outcomes.ended(conn, row, now, step=step, reason=reason)


def sendable(hook: asyncpg.Record | None, now: datetime) -> bool:
    """Whether anything may be sent now: a webhook that is registered, not disabled, and
    not paused by its receiver's pacing."""
    if hook is None or hook["disabled_at"] is not None:
        return False
    return hook["paused_until"] is None or hook["paused_until"] <= now


async def deliver_due(sender: Sender) -> int:
    """Send what is due now; returns how many deliveries were attempted.

    The URL is vetted again first, every round (its name may have been re-pointed since it
    was registered), and the requests go to the address that was vetted. A URL refused now
    refuses every delivery claimed: each is recorded as ``refused`` and not retried, and
    the webhook shows the refusal to its owner (``GET /v1/webhook``). A name that does not
    resolve at the moment is an ordinary failed attempt, retried."""
    now = datetime.now(UTC)
    async with sender.pool.acquire() as conn:
        target_row = await sender.store.webhook(conn)
        if not sendable(target_row, now):
            return 0
        lease = sender.settings.webhook_timeout_seconds + 30
        claimed = await sender.store.claim_deliveries(conn, now, lease, BATCH)
    if not claimed or target_row is None:
        return 0
    url, signing = target_row["url"], signing_secrets(target_row, now)
    try:
        target = await sender.outbound.vet(url, stage=DELIVERY)
    except OutboundRefused as refusal:
        for row in claimed:
            if refusal.rule.transient:
                await _settle(sender, url, row, Answer(None, refusal.rule.value), 0)
            else:
                await _refuse(sender, url, row, refusal.rule)
        return len(claimed)

    async def attempt(row: asyncpg.Record) -> None:
        with telemetry.continue_trace(row["trace_context"], "webhook delivery", row["referral_id"]):
            started = time.perf_counter()
            answer = await _send(sender, target, signing, row)
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            await _settle(sender, url, row, answer, elapsed_ms)

    await asyncio.gather(*(attempt(row) for row in claimed))
    return len(claimed)


async def _refuse(sender: Sender, url: str, row: asyncpg.Record, rule: Rule) -> None:
    with telemetry.continue_trace(
        row["trace_context"], "webhook delivery refused", row["referral_id"]
    ):
        now = datetime.now(UTC)
        error = f"refused: {rule.value}"
        async with sender.pool.acquire() as conn, conn.transaction():
            current = await sender.store.delivery_state(conn, row["webhook_id"])
            if current is None or current["state"] != "sending":
                return  # abandoned meanwhile (webhook removed)
            await sender.store.mark_webhook_refused(conn, url, rule.value, now)
            attempts = row["attempts"] + 1
            await sender.store.record_attempt(
                conn, row["webhook_id"], attempts, now, None, error, 0
            )
            await _end(conn, sender, row, "refused", attempts, error, now, *REFUSED)


PRUNE_BATCH = 1000


async def prune(
    pool: asyncpg.Pool, tables: WebhookTables, settings: WebhookSettings, now: datetime
) -> int:
    """The retention job's part for webhooks: remove the deliveries in ``tables`` (every
    owner's) that ended long enough before ``now``, with their attempts: delivered ones
    after ``WEBHOOK_KEEP_DELIVERED_DAYS``, the others after ``WEBHOOK_KEEP_ENDED_DAYS``
    (counted from when each was queued). A batch per transaction, so that no lock is held
    long; how many were removed."""
    delivered_before = now - timedelta(days=settings.webhook_keep_delivered_days)
    ended_before = now - timedelta(days=settings.webhook_keep_ended_days)
    removed = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            batch = await delete_ended(
                conn,
                tables,
                delivered_before=delivered_before,
                ended_before=ended_before,
                limit=PRUNE_BATCH,
            )
        removed += batch
        if batch < PRUNE_BATCH:
            break
    if removed:
        log.info(
            "webhook deliveries removed after their retention period",
            extra={"table": tables.deliveries, "deliveries": removed},
        )
    return removed


def count_series(label: str) -> None:
    """Every ``hub_webhook_attempts_total`` series of ``label`` from 0, so that the first
    failure alerts."""
    for result in ("delivered", "failed"):
        WEBHOOK_ATTEMPTS.labels(label, result)


MIN_PAUSE_SECONDS = 0.25
"""The shortest sleep between rounds that found nothing (a delivery due a moment ago that
the round just missed is claimed by the next one)."""


async def next_due(
    pool: asyncpg.Pool, store: type[TableStore], tables: WebhookTables
) -> datetime | None:
    """When the next delivery in ``tables`` comes due (``TableStore.next_due``)."""
    async with pool.acquire() as conn:
        return await store.next_due(conn, tables)


async def keep_delivering(
    deliver_round: Callable[[], Awaitable[int]],
    due: Callable[[], Awaitable[datetime | None]],
    waiting: asyncio.Event,
    settings: WebhookSettings,
    *,
    name: str,
    schema: str,
    settle_seconds: float = 0.0,
) -> None:
    """Run ``deliver_round`` until cancelled (``loops.every``, labelled ``name``): again at
    once while it finds work; else it sleeps until the next delivery comes due (``due``: a
    retry's time, the end of a receiver's pause, a lease that runs out) or the slow
    fallback poll (``DELIVERY_POLL_SECONDS``), whichever is first, and is woken sooner by
    new work: ``waiting`` set in this process, or a notification on ``<schema>_webhooks``
    from whichever process queued it (``webhook_wakeups``), ``settle_seconds`` after the
    work was recorded."""
    alarm = webhook_wakeups.Alarm(waiting, settle_seconds)
    listener = asyncio.create_task(
        webhook_wakeups.listen(settings.database_url, webhook_wakeups.channel(schema), alarm),
        name=f"{name}.wake-ups",
    )
    fallback = settings.delivery_poll_seconds

    async def step() -> Next:
        if await deliver_round():
            return Next.AGAIN
        when = await due()
        pause = fallback
        if when is not None:
            until_due = (when - datetime.now(UTC)).total_seconds()
            pause = min(fallback, max(until_due, MIN_PAUSE_SECONDS))
        await loops.pause(pause, waiting)  # ``every`` cleared it before this step
        return Next.AGAIN

    try:
        await loops.every(fallback, step, name=name, wake=waiting)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
