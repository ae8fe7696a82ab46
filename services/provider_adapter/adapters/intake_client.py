"""The intake vault, as the adapter sees it: contact details for one referral, fetched
with this adapter's service token. The vault decides and logs; we only ask."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx


class ContactUnavailable(Exception):
    """Intake has no open route to this service for the referral (or not yet)."""


class ContactWithdrawn(Exception):
    """The route has ended or its consent was withdrawn: no further disclosure."""


class VaultUnreachable(Exception):
    pass


@dataclass(frozen=True)
class Person:
    """Who at the provider is acting: their coded actor (``IDVA:caseworker:<account id>``)
    and their name, which travels to intake over this authenticated HTTP call only (never
    on the bus)."""

    actor: str
    name: str


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

    async def contact(self, referral_id: uuid.UUID, person: Person | None = None) -> dict[str, Any]:
        """The contact details the agreement allows, logged in intake's disclosure log as
        read by this adapter's service or, with ``person``, by that person."""
        path = f"/internal/v1/referrals/{referral_id}/contact"
        if person is None:
            response = await self._call("GET", path, 200)
        else:
            response = await self._call(
                "POST",
                path,
                200,
                json={
                    "purpose": "provider_contact",
                    "actor": person.actor,
                    "actor_name": person.name,
                },
            )
        body: dict[str, Any] = response.json()
        return body

    async def register_person(self, person: Person) -> None:
        """Tell intake who a coded actor is, so that its timeline names them. Raises
        ``VaultUnreachable`` when intake does not take it."""
        try:
            response = await self._client.put(
                f"/internal/v1/people/{person.actor}", json={"display_name": person.name}
            )
        except httpx.HTTPError as exc:
            raise VaultUnreachable from exc
        if response.status_code != 204:
            raise VaultUnreachable(f"intake answered {response.status_code}")

    async def add_note(
        self, referral_id: uuid.UUID, kind: str, text: str, person: Person | None = None
    ) -> bool:
        """Keep a provider's free text (a rejection note, an outcome's reason) in intake's
        vault, where erasure reaches it; the adapter keeps none. With ``person`` (the
        portal), the note is theirs (coded actor); else the adapter's. False when the
        referral's personal data was erased already (nothing is kept then)."""
        body = {"kind": kind, "text": text}
        if person is not None:
            body["actor"] = person.actor
        try:
            await self._call("POST", f"/internal/v1/referrals/{referral_id}/notes", 201, json=body)
        except ContactWithdrawn:
            return False
        return True

    async def close(self) -> None:
        await self._client.aclose()
