"""Webhooks by the Standard Webhooks specification's sender guidance (issue 19), one test
per recommendation, against a real receiver on this machine (``tests/support/
webhook_receiver.py``, which verifies with the ``standardwebhooks`` library) and a real
PostgreSQL: 410 Gone disables the endpoint and stops every delivery waiting for it (the
provider sees it, and registers again to enable it); 429, 502 and 503 pause the receiver
for its Retry-After (or the backoff); a new secret for the same URL signs beside the old
one until the overlap ends; a receiver that does not answer in time is a failed attempt,
retried. The dispatcher is driven one round at a time (``webhooks.deliver_due``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

from deploy.localstack.ports import free_port
from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter import bootstrap
from services.provider_adapter.handlers import webhooks
from services.provider_adapter.handlers.common import Adapter
from services.provider_adapter.settings import AdapterSettings
from tests.support.adapter_api import adapter_api
from tests.support.services import CREDENTIALS, common_env
from tests.support.webhook_receiver import (
    LOOPBACK_RECEIVERS,
    Receiver,
    register,
    webhook_receiver,
    webhook_state,
)
from tests.support.work_items import insert_work_item

SERVICE = Service.ISVA
TIMEOUT = 1.0
FIRST_RETRY = 3.0


@dataclass
class Rig:
    adapter: Adapter
    api: httpx.AsyncClient

    async def register(self, receiver: Receiver) -> dict[str, Any]:
        return await register(self.api, receiver)

    async def webhook(self) -> dict[str, Any]:
        return await webhook_state(self.api)

    async def work_item(self, *kinds: str) -> uuid.UUID:
        """A new work item, and a push of each of ``kinds`` about it (``created`` alone by
        default), queued as the adapter queues them."""
        async with self.adapter.pool.acquire() as conn, conn.transaction():
            route_id, referral_id = await insert_work_item(conn, SERVICE.value, datetime.now(UTC))
            item = {"referral_id": str(referral_id), "route_id": str(route_id)}
            for kind in kinds or ("created",):
                await webhooks.enqueue(conn, self.adapter, route_id, kind, item)
        return route_id

    async def deliveries(self, route_id: uuid.UUID) -> list[asyncpg.Record]:
        async with self.adapter.pool.acquire() as conn:
            return list(
                await conn.fetch(
                    """SELECT d.*, (SELECT array_agg(a.error ORDER BY a.attempt)
                                    FROM delivery_attempts a
                                    WHERE a.webhook_id = d.webhook_id) AS errors,
                              (SELECT max(a.duration_ms) FROM delivery_attempts a
                               WHERE a.webhook_id = d.webhook_id) AS duration_ms
                       FROM deliveries d WHERE route_id = $1 ORDER BY created_at""",
                    route_id,
                )
            )

    async def route_status(self, route_id: uuid.UUID) -> str:
        async with self.adapter.pool.acquire() as conn:
            status: str = await conn.fetchval(
                "SELECT status FROM work_items WHERE route_id = $1", route_id
            )
            return status

    async def execute(self, sql: str) -> None:
        async with self.adapter.pool.acquire() as conn:
            await conn.execute(sql)


@asynccontextmanager
async def rigged(database_url: str, **settings: Any) -> AsyncIterator[Rig]:
    """The ISVA adapter and its API calling receivers on 127.0.0.1; ``settings`` beside
    this module's."""
    env: dict[str, Any] = {
        **common_env(database_url, KafkaAccess("127.0.0.1:1")),
        "service": SERVICE,
        "intake_service_token": "unused",
        "provider_key_sha256": [CREDENTIALS.provider_key_hash(SERVICE)],
        **LOOPBACK_RECEIVERS,
        "webhook_timeout_seconds": TIMEOUT,
        "webhook_first_retry_seconds": FIRST_RETRY,
        **settings,
    }
    adapter_settings = AdapterSettings(**env)
    outbound = bootstrap._webhook_client(adapter_settings)
    async with adapter_api(database_url, adapter_settings, outbound) as (adapter, api):
        yield Rig(adapter, api)


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    async with rigged(database_url) as found:
        yield found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(free_port()) as found:
        yield found


def _answered(receiver: Receiver) -> list[int]:
    return [d.answered for d in receiver.received()]


async def test_410_gone_disables_the_endpoint_and_stops_what_was_waiting(
    rig: Rig, receiver: Receiver
) -> None:
    """ "410 Gone: ... Sender should disable the webhook endpoint, and stop sending it
    messages." The work items it was never told of escalate, as for a refused URL."""
    await rig.register(receiver)
    receiver.plan = ["gone"]
    told_nothing = await rig.work_item("created", "reminder")  # the reminder waits its turn
    assert await webhooks.deliver_due(rig.adapter) == 1
    assert _answered(receiver) == [410]

    hook = await rig.webhook()
    assert hook["disabled"]["reason"] == "gone"
    assert "registers it again" in hook["disabled"]["detail"]
    assert hook["deliveries"]["disabled"] == 2
    assert [d["state"] for d in await rig.deliveries(told_nothing)] == ["disabled", "disabled"]
    assert await rig.route_status(told_nothing) == "escalated"

    later = await rig.work_item()
    assert await rig.deliveries(later) == []  # nothing is queued for a disabled endpoint
    assert await webhooks.deliver_due(rig.adapter) == 0
    assert _answered(receiver) == [410]

    # The provider wants them again: registering enables it.
    await rig.register(receiver)
    assert (await rig.webhook())["disabled"] is None
    again = await rig.work_item()
    assert await webhooks.deliver_due(rig.adapter) == 1
    assert _answered(receiver) == [410, 204]
    assert receiver.received()[-1].verified
    assert [d["state"] for d in await rig.deliveries(again)] == ["delivered"]


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("action", "retry_after", "paused_for"),
    [
        ("throttle", "120", (115, 125)),  # 429 with delay-seconds
        ("busy", "an HTTP-date 300 seconds on", (290, 305)),  # 503 with an HTTP-date
        ("bad_gateway", None, (0.7 * FIRST_RETRY, 1.2 * FIRST_RETRY)),  # 502: the backoff
    ],
)
async def test_the_receivers_pacing_pauses_every_delivery_to_it(
    rig: Rig,
    receiver: Receiver,
    action: str,
    retry_after: str | None,
    paused_for: tuple[float, float],
) -> None:
    """ "429 ... throttle additional requests"; "502 ... 504 ... throttle the requests";
    "Retry-After ... should be taken into consideration when scheduling the next attempt"."""
    await rig.register(receiver)
    if retry_after and retry_after.startswith("an HTTP-date"):
        retry_after = _http_date(300)  # from now, not from when the tests were collected
    receiver.plan, receiver.retry_after = [action], retry_after
    first = await rig.work_item()
    assert await webhooks.deliver_due(rig.adapter) == 1
    now = datetime.now(UTC)

    hook = await rig.webhook()
    assert hook["paused_until"] is not None
    paused = (datetime.fromisoformat(hook["paused_until"]) - now).total_seconds()
    assert paused_for[0] <= paused <= paused_for[1]
    (waiting,) = await rig.deliveries(first)
    assert waiting["state"] == "pending"
    assert (waiting["next_attempt_at"] - now).total_seconds() >= paused_for[0]

    # A second work item is due at once, but nothing goes to the receiver meanwhile.
    await rig.work_item()
    assert await webhooks.deliver_due(rig.adapter) == 0
    assert len(receiver.received()) == 1

    # Once the pause is over, both go, and are delivered.
    await rig.execute(
        "UPDATE webhook SET paused_until = now(); UPDATE deliveries SET next_attempt_at = now()"
    )
    assert await webhooks.deliver_due(rig.adapter) >= 1
    assert receiver.received()[-1].answered == 204
    assert [d["state"] for d in await rig.deliveries(first)] == ["delivered"]


def _verifies(secret: str, receiver: Receiver, index: int) -> bool:
    delivery = receiver.received()[index]
    try:
        Webhook(secret).verify(delivery.body, delivery.headers)
    except WebhookVerificationError:
        return False
    return True


async def test_a_new_secret_for_the_same_url_signs_beside_the_old_one_until_the_overlap_ends(
    rig: Rig, receiver: Receiver
) -> None:
    """ "the webhook is signed both using the current key, and using an old key (for a set
    period of time), and both signatures are sent, space delimited"."""
    old = (await rig.register(receiver))["secret"]
    await rig.work_item()
    await webhooks.deliver_due(rig.adapter)
    assert receiver.received()[0].headers["webhook-signature"].count("v1,") == 1

    rotated = await rig.register(receiver)
    new = rotated["secret"]
    assert new != old
    until = datetime.fromisoformat(rotated["previous_secret_valid_until"])
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24)
    assert (await rig.webhook())["previous_secret_valid_until"] is not None
    await rig.work_item()
    await webhooks.deliver_due(rig.adapter)
    assert receiver.received()[1].headers["webhook-signature"].count("v1,") == 2
    # A receiver still holding the old secret, and one already holding the new: both verify.
    assert _verifies(old, receiver, 1)
    assert _verifies(new, receiver, 1)

    await rig.execute("UPDATE webhook SET previous_secret_until = now() - interval '1 second'")
    await rig.work_item()
    await webhooks.deliver_due(rig.adapter)
    assert receiver.received()[2].headers["webhook-signature"].count("v1,") == 1
    assert _verifies(new, receiver, 2)
    assert not _verifies(old, receiver, 2)
    assert (await rig.webhook())["previous_secret_valid_until"] is None


async def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt_retried(
    rig: Rig, receiver: Receiver
) -> None:
    """ "A recommended request timeout value for webhooks is somewhere between 15 and 30s"
    (the default; this rig waits a second)."""
    await rig.register(receiver)
    receiver.plan, receiver.stall_seconds = ["stall"], 4 * TIMEOUT
    route = await rig.work_item()
    assert await webhooks.deliver_due(rig.adapter) == 1
    (waiting,) = await rig.deliveries(route)
    assert waiting["state"] == "pending"
    assert waiting["errors"] == ["timeout"]
    assert waiting["duration_ms"] < 4 * TIMEOUT * 1000  # it did not wait for the answer
    await rig.execute("UPDATE deliveries SET next_attempt_at = now()")
    assert await webhooks.deliver_due(rig.adapter) == 1
    assert [d["state"] for d in await rig.deliveries(route)] == ["delivered"]


def test_the_default_timeout_is_the_specifications_and_longer_is_refused() -> None:
    env = {**common_env("postgresql://unused@127.0.0.1:1/x", KafkaAccess("127.0.0.1:1"))}
    settings = AdapterSettings(**env, service=SERVICE, intake_service_token="x")  # type: ignore[arg-type]
    assert 15 <= settings.webhook_timeout_seconds <= 30
    with pytest.raises(ValidationError):
        AdapterSettings(
            **env,  # type: ignore[arg-type]
            service=SERVICE,
            intake_service_token="x",
            webhook_timeout_seconds=31,
        )
