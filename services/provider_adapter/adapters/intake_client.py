"""The intake vault, as the adapter sees it: contact details for one referral, fetched
with this adapter's service token. The vault decides and logs; we only ask."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


class ContactUnavailable(Exception):
    """Intake has no open route to this service for the referral (or not yet)."""


class ContactWithdrawn(Exception):
    """The route has ended or its consent was withdrawn: no further disclosure."""


class VaultUnreachable(Exception):
    pass


class IntakeVault:
    def __init__(self, base_url: str, token: str, *, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    async def _call(self, method: str, path: str, expected: int, **kwargs: Any) -> httpx.Response:
        """``ContactUnavailable`` for 404, ``ContactWithdrawn`` for 410, ``VaultUnreachable``
        for no answer or any other status than ``expected``."""
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise VaultUnreachable from exc
        if response.status_code == 404:
            raise ContactUnavailable
        if response.status_code == 410:
            raise ContactWithdrawn
        if response.status_code != expected:
            raise VaultUnreachable(f"intake answered {response.status_code}")
        return response

    async def contact(self, referral_id: uuid.UUID) -> dict[str, Any]:
        response = await self._call("GET", f"/internal/v1/referrals/{referral_id}/contact", 200)
        body: dict[str, Any] = response.json()
        return body

    async def add_note(self, referral_id: uuid.UUID, kind: str, text: str) -> bool:
        """Keep a provider's free text (a rejection note, an outcome's reason) in intake's
        vault, where erasure reaches it; the adapter keeps none. False when the referral's
        personal data was erased already (nothing is kept then)."""
        try:
            await self._call(
                "POST",
                f"/internal/v1/referrals/{referral_id}/notes",
                201,
                json={"kind": kind, "text": text},
            )
        except ContactWithdrawn:
            return False
        return True

    async def close(self) -> None:
        await self._client.aclose()
