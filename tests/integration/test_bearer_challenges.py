"""Every 401 says why in its ``WWW-Authenticate`` challenge, as RFC 6750 section 3 asks:
no error code when no bearer credential was offered at all (none, or another scheme),
``invalid_request`` for a malformed or over-long one, ``invalid_token`` for a token or key
that is not valid; on intake (staff tokens) and a provider's API (keys) alike, through
the request guard that makes them. Real PostgreSQL and broker; the apps in this process."""

from __future__ import annotations

import re

import pytest

from tests.integration.test_signed_cursors import Lists, lists

__all__ = ["lists"]  # the fixture, shared with the cursor tests

CHALLENGE = re.compile(
    r'^Bearer realm="referral-hub"'
    r'(, error="(?P<error>[a-z_]+)", error_description="[ !#-\[\]-~]+")?$'
)

CASES = [
    ({}, None),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, None),
    ({"Authorization": "Bearer"}, "invalid_request"),
    ({"Authorization": "Bearer two parts"}, "invalid_request"),
    ({"Authorization": "Bearer " + "x" * 5000}, "invalid_request"),
    ({"Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}, "invalid_token"),
    ({"Authorization": "Bearer pk_live_" + "k" * 43}, "invalid_token"),
]


@pytest.mark.parametrize(("headers", "error"), CASES)
async def test_a_401_names_the_rfc_6750_error(
    lists: Lists, headers: dict[str, str], error: str | None
) -> None:
    for client, path in ((lists.intake, "/v1/referrals"), (lists.adapter, "/v1/queue")):
        request = client.build_request("GET", path)
        del request.headers["authorization"]  # the fixture's own credential
        request.headers.update(headers)
        response = await client.send(request)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        found = CHALLENGE.match(response.headers["www-authenticate"])
        assert found, response.headers["www-authenticate"]
        assert found["error"] == error, (path, response.headers["www-authenticate"])
