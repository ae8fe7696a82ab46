"""Opaque tokens a client is given and sends back (pagination cursors): signed, so that a
token the API did not issue is refused (400) before anything in it is read.

A cursor is the position after a page's last row, as JSON, signed with HMAC-SHA256 by
``itsdangerous`` (the library that already signs the provider portal's form tokens). The
signing key is derived from one of the service's existing secrets with a salt naming what
the token is for (``itsdangerous``' key derivation: HMAC of the salt under the secret), so
a cursor of one list is no cursor of another, and no new secret has to be deployed.
A cursor never expires: it names a position, not a permission (the request carrying it is
authorised on its own), and a client may resume a long walk through a list later.
"""

from __future__ import annotations

import hashlib
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from schemas.refusals import Refused


class InvalidCursor(Refused, ValueError):
    """The token is not one this API issued for this list (or it was altered): 400, with a
    sentence that never repeats the token. ``reason`` is for the code, not the caller."""

    status = 400
    title = "Bad request"
    says = "The cursor is not one this API gave out."

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class Cursors:
    """Issues and reads the signed positions of one list.

    ``secret``: a service secret of at least 32 characters; ``purpose``: what the cursors
    are for (``"intake-worklist"``, ``"queue-IDVA"``), which separates their keys."""

    def __init__(self, secret: str | bytes, purpose: str) -> None:
        self._serializer = URLSafeSerializer(
            secret,
            salt=f"cursor:{purpose}",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def issue(self, position: list[Any]) -> str:
        """A URL-safe token (``[A-Za-z0-9_.-]``) carrying ``position`` (JSON values)."""
        return self._serializer.dumps(position)

    def read(self, cursor: str) -> list[Any]:
        """The position ``issue`` signed; ``InvalidCursor`` for anything else, whatever its
        shape (the signature is checked before the payload is decoded)."""
        try:
            position = self._serializer.loads(cursor)
        except (BadData, UnicodeError, ValueError) as exc:
            raise InvalidCursor("not a cursor this API gave out") from exc
        if not isinstance(position, list):
            raise InvalidCursor("not a cursor this API gave out")
        return position
