"""Every identifier a client sends is checked against its format or a fixed list before it
is used, a bad one answers 4xx, and no answer repeats it (issue 25, "inputs echoed
nowhere"): policy versions, purposes, cursors, flags, Idempotency-Keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.bootstrap import build as build_intake
from services.referral_intake.settings import IntakeSettings
from services.router.bootstrap import build as build_router
from services.router.settings import RouterSettings
from tests.support.referrals import referral
from tests.support.services import CREDENTIALS, common_env, serving

TOKENS = CREDENTIALS.staff_tokens
MARK = "Zq7"
# Anything a client could type, with a marker to look for in the answer. URL-safe enough to
# travel in a query string; the marker makes each one findable.
identifiers = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40
).map(lambda s: f"{MARK}{s}")


@pytest.fixture(scope="module")
async def apps(
    module_database_url: str, module_kafka: KafkaAccess
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    env = common_env(module_database_url, module_kafka)
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(
            serving(build_intake(IntakeSettings(**env)).create_app(), TOKENS["supervisor"])  # type: ignore[arg-type]
        )
        router = await stack.enter_async_context(
            serving(build_router(RouterSettings(**env)).create_app(), TOKENS["supervisor"])  # type: ignore[arg-type]
        )
        yield intake, router


def _not_echoed(response: httpx.Response, sent: str) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert MARK not in response.text
    assert sent not in response.text


SLOW = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def for_any_identifier(
    test: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., None]:
    """The test, given ``sent``, runs on 40 strings an identifier in the API might be sent as."""
    checked: Callable[..., None] = SLOW(given(sent=identifiers)(test))
    return checked


@for_any_identifier
async def test_a_purpose_is_one_of_a_fixed_list(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient], sent: str
) -> None:
    intake, _ = apps
    response = await intake.get(f"/v1/referrals/{uuid.uuid4()}/contact", params={"purpose": sent})
    _not_echoed(response, sent)


@for_any_identifier
async def test_a_cursor_that_was_not_given_out_is_refused(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient], sent: str
) -> None:
    intake, _ = apps
    _not_echoed(await intake.get("/v1/referrals", params={"cursor": sent}), sent)


@for_any_identifier
async def test_a_policy_version_has_its_format(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient], sent: str
) -> None:
    intake, router = apps
    today = "2026-11-30"
    _not_echoed(
        await router.post(
            "/v1/simulations", json={"candidate_version": sent, "from": today, "to": today}
        ),
        sent,
    )
    _not_echoed(
        await intake.post(
            "/v1/assessments/explain", params={"policy_version": sent}, json=referral()
        ),
        sent,
    )


@pytest.mark.parametrize(
    "cursor",
    # Valid base64 and JSON, but not a cursor's shape: each used to escape as a 500.
    ["NQ", "bnVsbA", "WzEsMiwzXQ", "eyJhIjogMX0", "WyJ4IiwgInkiXQ"],
)
async def test_cursors_of_the_wrong_shape_are_400(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient], cursor: str
) -> None:
    intake, _ = apps
    response = await intake.get("/v1/referrals", params={"cursor": cursor})
    assert response.status_code == 400
    assert cursor not in response.text


async def test_an_unknown_but_well_formed_policy_version_is_404_without_its_name(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, router = apps
    response = await router.post(
        "/v1/simulations",
        json={"candidate_version": "2099-01-01.7", "from": "2026-11-01", "to": "2026-11-02"},
    )
    assert response.status_code == 404
    assert "2099-01-01.7" not in response.text
