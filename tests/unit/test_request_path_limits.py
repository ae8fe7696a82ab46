"""The request path's economies keep their promises: a verified token is remembered only
while it is valid and a refused one never is; past its limit of requests in flight a
service answers 503 with Retry-After at once, and still answers its health checks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi import HTTPException
from starlette.types import Receive, Scope, Send

from deploy.localstack.credentials import AUDIENCE, ISSUER, generate
from services.plumbing.auth import Principal, TokenVerifier, Unauthenticated
from services.plumbing.guard import HttpLimits, RequestGuard

KEYS = generate()


def _token(exp: float, subject: str = "someone", private_key: str = KEYS.private_key_pem) -> str:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "roles": ["triage"], "exp": exp}
    return jwt.encode(claims, private_key, algorithm="ES256")


def _verifier(**options: Any) -> TokenVerifier:
    return TokenVerifier(KEYS.public_key_pem, issuer=ISSUER, audience=AUDIENCE, **options)


class _Decodes:
    """Counts the full verifications (``jwt.decode``) that happen."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = jwt.decode

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr("services.plumbing.auth.jwt.decode", counting)


def test_a_verified_token_is_checked_once_while_it_is_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = _Decodes(monkeypatch)
    verifier = _verifier()
    token = _token(time.time() + 3600)
    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert first.roles == {"triage"}
    assert decodes.count == 1


def test_a_remembered_token_is_checked_in_full_again_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = _Decodes(monkeypatch)
    now = time.time()
    verifier = _verifier()
    token = _token(now + 60)
    verifier.verify(token)
    monkeypatch.setattr("services.plumbing.auth.time.time", lambda: now + 61)
    verifier.verify(token)  # still valid by the real clock, which the full check reads
    assert decodes.count == 2


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(HTTPException) as refused:
        _verifier().verify(_token(time.time() - 1))
    assert refused.value.status_code == 401


def test_a_remembered_token_is_checked_again_after_the_cache_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = _Decodes(monkeypatch)
    now = time.time()
    verifier = _verifier(cache_seconds=300)
    token = _token(now + 3600)
    verifier.verify(token)
    monkeypatch.setattr("services.plumbing.auth.time.time", lambda: now + 301)
    verifier.verify(token)
    assert decodes.count == 2


def test_a_refused_token_is_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = _Decodes(monkeypatch)
    verifier = _verifier()
    forged = _token(time.time() + 3600, private_key=generate().private_key_pem)
    for _ in range(3):
        with pytest.raises(HTTPException) as refused:
            verifier.verify(forged)
        assert refused.value.status_code == 401
    assert decodes.count == 3


def test_the_cache_holds_at_most_its_size_and_forgets_the_least_recently_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes = _Decodes(monkeypatch)
    verifier = _verifier(cache_size=2)
    first, second, third = (_token(time.time() + 3600, subject=f"person-{n}") for n in range(3))
    verifier.verify(first)
    verifier.verify(second)
    verifier.verify(first)  # remembered, and now the more recently used of the two
    verifier.verify(third)  # makes room by forgetting the second, not the first
    verifier.verify(first)  # still remembered
    assert decodes.count == 3
    verifier.verify(second)  # forgotten: checked in full again
    assert decodes.count == 4


async def test_past_the_limit_requests_get_503_with_retry_after_and_health_still_answers() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/v1/slow":
            entered.set()
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    async def authenticate(_app: Any, credential: str) -> Principal:
        if credential != "right":
            raise Unauthenticated("invalid", "not recognised")
        return Principal(subject="someone", roles=frozenset({"triage"}))

    limited = RequestGuard(app, limits=HttpLimits(max_in_flight=1), authenticate=authenticate)
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://hub", headers={"Authorization": "Bearer right"}
    ) as client:
        slow = asyncio.create_task(client.get("/v1/slow"))
        await entered.wait()
        # A request without the right credentials is refused before it could count.
        wrong = await client.post("/v1/referrals", json={}, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        refused = await client.post("/v1/referrals", json={})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await client.get("/healthz")).status_code == 200
        release.set()
        assert (await slow).status_code == 200
        assert (await client.get("/v1/other")).status_code == 200  # room again
