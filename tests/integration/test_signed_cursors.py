"""Every paginated list (intake's worklist, a provider's queue) takes back only the cursors
it gave out, signed (issue 19): anything else, the issue's hand-made ones (``NQ``, a queue
position of ``1e999`` or ``10**30``), altered ones, another list's, and whatever hypothesis
makes up, answers 400 with a problem, never 500; the cursors it does give out walk the whole
list, each item once. Real PostgreSQL and broker; the apps in this process."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codes import Service
from services.plumbing.kafka_access import KafkaAccess
from services.provider_adapter.bootstrap import build as build_adapter
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.settings import IntakeSettings
from tests.support.referrals import referral
from tests.support.services import CREDENTIALS, common_env, serving
from tests.support.work_items import insert_work_item

SERVICE = Service.CLIMB
QUEUE_ITEMS = 7


@dataclass
class Lists:
    intake: httpx.AsyncClient
    adapter: httpx.AsyncClient


def _legacy(value: object) -> str:
    """A cursor in the shape this API gave out before cursors were signed (base64 JSON)."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def _fill_queue(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    start = datetime.now(UTC) - timedelta(hours=QUEUE_ITEMS)
    try:
        for i in range(QUEUE_ITEMS):
            await insert_work_item(conn, SERVICE.value, start + timedelta(minutes=i))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def lists(module_database_url: str, module_kafka: KafkaAccess) -> AsyncIterator[Lists]:
    env = common_env(module_database_url, module_kafka)
    adapter_settings = AdapterSettings(
        **env,  # type: ignore[arg-type]
        service=SERVICE,
        intake_service_token="unused",
        provider_key_sha256=[CREDENTIALS.provider_key_hash(SERVICE)],
    )
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(
            serving(
                build_intake(IntakeSettings(**env)).create_app(),  # type: ignore[arg-type]
                CREDENTIALS.staff_tokens["supervisor"],
            )
        )
        adapter = await stack.enter_async_context(
            serving(
                build_adapter(adapter_settings).create_app(),
                CREDENTIALS.provider_keys[SERVICE],
            )
        )
        await _fill_queue(module_database_url, adapter_settings.db_schema)
        for _ in range(3):
            assert (await intake.post("/v1/referrals", json=referral())).status_code == 202
        yield Lists(intake, adapter)


def _refused(response: httpx.Response, sent: str) -> None:
    """400 with the same problem whatever was sent: nothing of it is echoed."""
    assert response.status_code == 400, (response.status_code, response.text, sent)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad request",
        "status": 400,
        "detail": "The cursor is not one this API gave out.",
    }


HANDED = [
    # the issue's: base64 of 5; a queue position whose first value is 1e999 or 10**30
    "NQ",
    _legacy([1e999, "2026-11-30T10:00:00+00:00", str(uuid.uuid4())]),
    _legacy([10**30, "2026-11-30T10:00:00+00:00", str(uuid.uuid4())]),
    _legacy(["2026-11-30T10:00:00+00:00", str(uuid.uuid4())]),
    _legacy(["99999-01-01T00:00:00", str(uuid.uuid4())]),
    _legacy([2, "0001-01-01T00:00:00", "not a uuid"]),
    "bnVsbA",
    "WzEsMiwzXQ",
    "eyJhIjogMX0",
    "..",
    ".",
    "a.b",
]


@pytest.mark.parametrize("cursor", HANDED)
async def test_hand_made_cursors_are_400_on_every_list(lists: Lists, cursor: str) -> None:
    _refused(await lists.intake.get("/v1/referrals", params={"cursor": cursor}), cursor)
    _refused(await lists.adapter.get("/v1/queue", params={"cursor": cursor}), cursor)


async def _pages(client: httpx.AsyncClient, path: str, key: str) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item[key] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_the_cursors_given_out_walk_each_list_once(lists: Lists) -> None:
    queue = [i for p in await _pages(lists.adapter, "/v1/queue", "route_id") for i in p]
    assert len(queue) == QUEUE_ITEMS == len(set(queue))
    worklist = [i for p in await _pages(lists.intake, "/v1/referrals", "referral_id") for i in p]
    assert len(worklist) == len(set(worklist)) >= 3


async def test_an_altered_or_borrowed_cursor_is_400(lists: Lists) -> None:
    queue_cursor = (await lists.adapter.get("/v1/queue", params={"limit": "1"})).json()[
        "next_cursor"
    ]
    worklist_cursor = (await lists.intake.get("/v1/referrals", params={"limit": "1"})).json()[
        "next_cursor"
    ]
    payload, _, signature = queue_cursor.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    # the same position with its signature changed; a payload moved under another signature
    for forged in (f"{payload}.{flipped}", f"{_legacy([0, '2026-01-01', 'x'])}.{signature}"):
        _refused(await lists.adapter.get("/v1/queue", params={"cursor": forged}), forged)
    # one list's cursor is not another's, though both are signed by the hub
    _refused(
        await lists.adapter.get("/v1/queue", params={"cursor": worklist_cursor}), worklist_cursor
    )
    _refused(await lists.intake.get("/v1/referrals", params={"cursor": queue_cursor}), queue_cursor)


SLOW = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
cursors = st.one_of(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
        min_size=1,
        max_size=120,
    ),
    # base64 of JSON of any shape: what a client guessing at the format would send
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ).map(_legacy),
    # something shaped like a signed cursor: a payload, a dot, a signature
    st.tuples(
        st.text("ABCDEFabcdef0123456789-_", min_size=1, max_size=60),
        st.text("ABCDEFabcdef0123456789-_", min_size=1, max_size=60),
    ).map(".".join),
)


@SLOW
@given(cursor=cursors)
async def test_no_cursor_a_client_makes_up_is_anything_but_400(lists: Lists, cursor: str) -> None:
    for response in (
        await lists.intake.get("/v1/referrals", params={"cursor": cursor}),
        await lists.adapter.get("/v1/queue", params={"cursor": cursor}),
    ):
        if len(cursor) > 400:
            assert response.status_code == 422
        else:
            _refused(response, cursor)
