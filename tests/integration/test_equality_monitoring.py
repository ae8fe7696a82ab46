"""Equality monitoring against real PostgreSQL: answers sealed in the vault, counted at
submission in counters that hold no referral id, reported with their completeness overall
and by source, unchanged by erasure; and the report's editions and formats over HTTP."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pypdfium2 as pdfium
import pytest

from schemas.calendar import england_day
from services.referral_intake.domain.periods import parse_period
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers import erasure, reports, submission
from tests.support.intake import migrated_pool
from tests.support.referrals import referral
from tests.support.report_api import report_api
from tests.support.services import TEST_VAULT

FULL = {
    "ethnicity": "white_gypsy_or_irish_traveller",
    "sex": "female",
    "gender_identity_same_as_sex": "yes",
    "sexual_orientation": "bisexual",
    "disability": "disabled_limited_a_little",
    "religion": "no_religion",
}


@pytest.fixture(scope="module")
async def pool(module_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(module_database_url) as pool:
        yield pool


async def _submit(pool: asyncpg.Pool, n: int, **changes: Any) -> Any:
    body = referral(crime_reference=f"22/{n:05d}/26", contact__phone=f"07700 9{n:05d}", **changes)
    return (
        await submission.submit_referral(
            pool,
            ReferralRequest.model_validate(body),
            submitted_by="test",
            idempotency_key=None,
            identity_key=b"k" * 32,
            vault=TEST_VAULT,
        )
    ).referral_id


@pytest.fixture(scope="module")
async def submitted(pool: asyncpg.Pool) -> list[Any]:
    return [
        await _submit(pool, 1, equality=FULL),
        await _submit(pool, 2, equality={"ethnicity": "prefer_not_to_say", "sex": "male"}),
        await _submit(pool, 3),  # nothing asked
        await _submit(pool, 4, source="hospital", equality={"ethnicity": "white_british"}),
    ]


async def _report(pool: asyncpg.Pool) -> dict[str, Any]:
    now = datetime.now(UTC)
    period = parse_period(None, None, None, today=england_day(now))
    return await reports.performance(pool, period, now=now)


async def test_answers_are_counted_with_their_completeness(
    pool: asyncpg.Pool, submitted: list[Any]
) -> None:
    section = (await _report(pool))["equality"]
    assert section["referrals"] == 4
    ethnicity = section["characteristics"]["ethnicity"]
    assert ethnicity["categories"]["white_gypsy_or_irish_traveller"] == 1
    assert ethnicity["categories"]["white_british"] == 1
    assert (ethnicity["recorded"], ethnicity["prefer_not_to_say"], ethnicity["not_asked"]) == (
        2,
        1,
        1,
    )
    religion = section["characteristics"]["religion"]
    assert (religion["recorded"], religion["prefer_not_to_say"], religion["not_asked"]) == (1, 0, 3)
    assert religion["recorded_rate"] == 0.25
    police = section["by_source"]["police_officer"]["characteristics"]
    assert police["ethnicity"]["referrals"] == 3
    assert police["ethnicity"]["not_asked"] == 1
    hospital = section["by_source"]["hospital"]["characteristics"]
    assert hospital["ethnicity"]["recorded_rate"] == 1
    assert hospital["sex"]["not_asked"] == 1


async def test_the_answers_live_in_the_vault_and_the_counters_hold_no_referral(
    pool: asyncpg.Pool, submitted: list[Any]
) -> None:
    async with pool.acquire() as conn:
        columns = {
            r["column_name"]
            for r in await conn.fetch(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = 'intake' AND table_name = 'equality_counts'"""
            )
        }
        opened = await TEST_VAULT.read(conn, submitted[0])
        facts = await conn.fetchval(
            "SELECT facts::text FROM referrals WHERE referral_id = $1", submitted[0]
        )
        outbox = await conn.fetch("SELECT payload::text AS p FROM outbox")
    assert columns == {
        "month",
        "local_authority",
        "source",
        "characteristic",
        "category",
        "referrals",
    }
    assert opened is not None
    assert opened["equality"] == FULL
    # Not in the coded facts, not in any event.
    for code in FULL.values():
        if code not in ("yes", "female"):
            assert code not in facts
            assert all(code not in r["p"] for r in outbox)
    assert all("equality" not in r["p"] for r in outbox)


async def test_erasure_leaves_the_counts_as_they_were(
    pool: asyncpg.Pool, submitted: list[Any]
) -> None:
    before = (await _report(pool))["equality"]
    await erasure.erase(
        pool, TEST_VAULT, submitted[0], reason="data_subject_request", actor="supervisor"
    )
    async with pool.acquire() as conn:
        assert await TEST_VAULT.read(conn, submitted[0]) is None
    assert (await _report(pool))["equality"] == before


@pytest.fixture(scope="module")
async def api(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with report_api(pool, threshold=3) as client:
        yield client


async def test_each_edition_in_each_format(api: httpx.AsyncClient, submitted: list[Any]) -> None:
    internal = (await api.get("/v1/reports/performance")).json()
    assert internal["edition"] == "internal"
    assert internal["suppressed"] == []
    published = await api.get("/v1/reports/performance", params={"edition": "published"})
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["edition"] == "published"
    assert body["disclosure_control"]["threshold"] == 3  # the setting
    # Four referrals: the ones and twos of the equality section are gone.
    section = body["equality"]["characteristics"]["ethnicity"]
    assert section["categories"]["white_british"] is None
    assert "equality.characteristics.ethnicity.categories.white_british" in body["suppressed"]
    assert section["categories"]["asian_indian"] == 0  # zeros single nobody out

    answer = await api.get(
        "/v1/reports/performance", params={"edition": "published"}, headers={"Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    cell = next(
        r
        for r in rows
        if (r["service"], r["sub_service"], r["figure"])
        == ("equality", "", "characteristics.ethnicity.categories.white_british")
    )
    assert cell["value"] == "[c]"

    answer = await api.get("/v1/reports/performance", headers={"Accept": "application/pdf"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].endswith('.pdf"')
    document = pdfium.PdfDocument(answer.content)
    first = document[0].get_textpage().get_text_range()
    assert "Internal edition" in first

    answer = await api.get(
        "/v1/reports/performance", params={"edition": "published", "format": "html"}
    )
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "Published edition" in answer.text
    assert "[c]" in answer.text

    refused = await api.get("/v1/reports/performance", params={"edition": "draft"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
