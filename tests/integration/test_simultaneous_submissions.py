"""Submissions of one person arriving at the same moment, against real PostgreSQL: each is
handled on a connection of its own, all at once (``asyncio.gather``), as intake's HTTP
workers handle simultaneous requests.

Before the fix, two first submissions of a person nobody had referred before both looked
for the person, found nobody, and both became new referrals (not linked, no repeat
victim); the identity lock only held once one of them was on record. Each case is
repeated over many people, so that a race lost even once in a while fails the test."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.plumbing import db
from services.plumbing.kafka_access import KafkaAccess
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers.submission import Submitted, submit_referral
from tests.support.intake import migrated_pool
from tests.support.referrals import referral
from tests.support.services import TEST_VAULT, common_env

IDENTITY_KEY = str(common_env("", KafkaAccess(""))["identity_hash_key"]).encode()
AT_ONCE = 3
"""Submissions of one person sent together."""
PEOPLE = 12
"""People each case is tried with (on main, most rounds lost the race)."""


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool with a connection ready for each simultaneous submission, so that none waits
    for a connection to open while the others go ahead."""
    async with migrated_pool(database_url):
        pass
    ready = await db.create_pool(
        database_url, "intake", application_name="test", min_size=AT_ONCE, max_size=AT_ONCE
    )
    try:
        yield ready
    finally:
        await ready.close()


async def _at_once(
    pool: asyncpg.Pool, body: dict[str, Any], idempotency_key: str | None = None
) -> list[Submitted]:
    request = ReferralRequest.model_validate(body)
    return list(
        await asyncio.gather(
            *(
                submit_referral(
                    pool,
                    request,
                    submitted_by="test",
                    idempotency_key=idempotency_key,
                    identity_key=IDENTITY_KEY,
                    vault=TEST_VAULT,
                )
                for _ in range(AT_ONCE)
            )
        )
    )


async def _referrals_of(pool: asyncpg.Pool, ids: set[uuid.UUID]) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM referrals WHERE referral_id = ANY($1::uuid[])", list(ids)
        )
    )


def _person(n: int) -> dict[str, Any]:
    """Someone nobody has referred before: their own name, phone and crime reference."""
    unique = uuid.uuid4().hex[:6]
    return referral(
        contact__name=f"Simultaneous Qperson {unique}",
        contact__phone=f"07700 9{n:05d}",
        crime_reference=f"SIM/{unique}/26",
    )


async def test_first_submissions_of_one_person_at_once_are_one_referral(
    pool: asyncpg.Pool,
) -> None:
    """The same person, role and crime, sent three times at once: one referral, and the
    other two are its second and third submissions."""
    lost = []
    for n in range(PEOPLE):
        answers = await _at_once(pool, _person(n))
        ids = {a.referral_id for a in answers}
        if len(ids) != 1:
            lost.append(n)
            continue
        assert sorted(a.version for a in answers) == [1, 2, 3]
        assert [a.linked for a in answers].count(False) == 1
        assert await _referrals_of(pool, ids) == 1
        (referral_id,) = ids
        versions = await pool.fetch(
            "SELECT version FROM submissions WHERE referral_id = $1 ORDER BY version",
            referral_id,
        )
        assert [v["version"] for v in versions] == [1, 2, 3]
    assert lost == [], f"{len(lost)} of {PEOPLE} people became more than one referral"


async def test_referrals_of_one_person_for_different_crimes_at_once_are_cross_linked(
    pool: asyncpg.Pool,
) -> None:
    """The same person, three crimes, at once: three referrals, each cross-linked to the
    ones before it, the later ones marked as a repeat victim."""
    for n in range(PEOPLE):
        person = _person(n)
        bodies = [{**person, "crime_reference": f"{person['crime_reference']}-{i}"} for i in "abc"]
        answers = await asyncio.gather(
            *(
                submit_referral(
                    pool,
                    ReferralRequest.model_validate(body),
                    submitted_by="test",
                    idempotency_key=None,
                    identity_key=IDENTITY_KEY,
                    vault=TEST_VAULT,
                )
                for body in bodies
            )
        )
        assert len({a.referral_id for a in answers}) == AT_ONCE
        # Whichever came first links to nobody; the second to one, the third to two.
        assert sorted(len(a.cross_linked) for a in answers) == [0, 1, 2], f"person {n}"
        assert sorted(a.repeat_victim for a in answers) == [False, True, True]
        links = await pool.fetchval(
            "SELECT count(*) FROM referral_links WHERE referral_id = ANY($1::uuid[])",
            [a.referral_id for a in answers],
        )
        assert links == 6  # three pairs, both ways


@pytest.mark.parametrize(
    "case",
    ["first", "unidentified", "resubmission"],
    ids=[
        "a person nobody referred before",
        "nobody to identify (no date of birth, no phone)",
        "a resubmission of a referral on record",
    ],
)
async def test_one_idempotency_key_sent_at_once_is_one_submission_replayed(
    pool: asyncpg.Pool, case: str
) -> None:
    """The same body with the same Idempotency-Key, sent three times at once (a client
    retrying before its first answer): one submission, and the other answers are replays of
    it (never a 409 or an error)."""
    for n in range(PEOPLE):
        body = _person(n)
        if case == "unidentified":
            body["contact"]["phone"] = None
        on_record = []
        if case == "resubmission":
            on_record = await _at_once(pool, body, idempotency_key=f"first-{uuid.uuid4()}")
            body = {**body, "assessment": {**body["assessment"], "needs": ["housing"]}}
        answers = await _at_once(pool, body, idempotency_key=f"retry-{uuid.uuid4()}")
        ids = {a.referral_id for a in answers}
        assert ids == ({on_record[0].referral_id} if on_record else ids)
        assert len(ids) == 1, f"person {n}: {len(ids)} referrals"
        assert Counter(a.replayed for a in answers) == {False: 1, True: AT_ONCE - 1}
        version = 2 if on_record else 1
        assert {a.version for a in answers} == {version}
        assert await _referrals_of(pool, ids) == 1
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM submissions WHERE referral_id = ANY($1::uuid[])", list(ids)
            )
            == version
        )
