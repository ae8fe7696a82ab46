"""Strict JSON (issue 14, case 6): a body or event that names a member twice in one object
means whatever a parser guesses, so it is refused, naming the member's path; well-formed
JSON passes untouched."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from services.plumbing import strict_json
from services.plumbing.auth import staff_token
from services.plumbing.guard import HttpLimits, RequestGuard
from services.plumbing.http import StrictJson, install_error_handlers

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=12,
)


def test_case_6_ambiguous_consent_names_consent_status() -> None:
    body = b'{"consent": {"status": "refused", "status": "given"}}'
    with pytest.raises(strict_json.DuplicateMembers) as raised:
        strict_json.check(body)
    assert raised.value.paths == ["consent.status"]


@pytest.mark.parametrize(
    ("document", "paths"),
    [
        ('{"a": 1, "a": 1}', ["a"]),  # the same value twice is still two members
        ('{"a": {"b": [{"c": 1, "c": 2}]}}', ["a.b.0.c"]),
        ('[{"x": 1}, {"y": 1, "y": 2}]', ["1.y"]),
        ('{"a": 1, "b": {"a": 1}, "a": 2, "b": 3}', ["b", "a"]),
        ('{"Jane Doe 07700 900123": 1, "Jane Doe 07700 900123": 2}', ["(member)"]),
    ],
)
def test_every_duplicate_is_named_by_its_path(document: str, paths: list[str]) -> None:
    with pytest.raises(strict_json.DuplicateMembers) as raised:
        strict_json.check(document)
    assert sorted(raised.value.paths) == sorted(paths)


@pytest.mark.parametrize("document", ["NaN", '{"a": Infinity}', "[-Infinity]", "{", b"\xff"])
def test_what_is_not_json_is_refused(document: str | bytes) -> None:
    with pytest.raises(strict_json.NotJson):
        strict_json.check(document)


@given(values)
def test_json_with_unique_members_reads_as_it_was_written(value: Any) -> None:
    assert strict_json.loads(json.dumps(value)) == value


@given(st.dictionaries(names, values, min_size=1, max_size=4), st.data())
def test_any_member_written_twice_is_found(value: dict[str, Any], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(value)))
    again = data.draw(values)
    document = json.dumps(value)[:-1] + f", {json.dumps(name)}: {json.dumps(again)}}}"
    with pytest.raises(strict_json.DuplicateMembers) as raised:
        strict_json.check(document)
    assert name in raised.value.paths
    with pytest.raises(strict_json.DuplicateMembers) as raised:
        strict_json.check(_nest(document))
    assert f"outer.0.{name}" in raised.value.paths


def _nest(document: str) -> str:
    return '{"outer": [' + document + ', "x"]}'


class _Consent(BaseModel):
    status: str


class _Body(BaseModel):
    consent: _Consent


def _app(stored: list[_Body]) -> RequestGuard:
    """As every service is built (services/plumbing/runtime.py): strict JSON inside the
    request guard, which reads the body within its limits first."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(StrictJson)

    @app.post("/things")
    async def things(body: _Body) -> dict[str, str]:
        stored.append(body)
        return {"status": body.consent.status}

    return RequestGuard(app, limits=HttpLimits(), authenticate=staff_token)


async def test_the_http_side_refuses_before_any_handler_runs() -> None:
    stored: list[_Body] = []
    transport = httpx.ASGITransport(app=_app(stored))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        twice = await client.post(
            "/things",
            content=b'{"consent": {"status": "refused", "status": "given"}}',
            headers={"Content-Type": "application/json"},
        )
        assert twice.status_code == 422
        assert twice.headers["content-type"] == "application/problem+json"
        assert twice.json()["errors"] == [
            {"field": "consent.status", "message": "appears more than once in its object"}
        ]
        assert "refused" not in twice.text
        assert "given" not in twice.text
        assert stored == []

        for content_type in ("application/merge-patch+json", "application/json; charset=utf-8"):
            again = await client.post(
                "/things",
                content=b'{"consent": {"status": "x"}, "consent": {"status": "y"}}',
                headers={"Content-Type": content_type},
            )
            assert again.status_code == 422
            assert again.json()["errors"][0]["field"] == "consent"

        nan = await client.post(
            "/things",
            content=b'{"consent": {"status": NaN}}',
            headers={"Content-Type": "application/json"},
        )
        assert nan.status_code == 422
        assert nan.json()["errors"] == [
            {"field": "(body)", "message": "The body is not valid JSON."}
        ]

        once = await client.post("/things", json={"consent": {"status": "given"}})
        assert once.status_code == 200
        assert once.json() == {"status": "given"}
        assert len(stored) == 1
