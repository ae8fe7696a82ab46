"""A caseworker in the demo: the provider portal driven as a browser without JavaScript
would drive it (pages, forms, CSRF tokens, cookies). The portal's administrator invites them,
they set a password and enrol an authenticator, sign in, and work their provider's queue;
intake's timeline then names them for every step, which the demo prints as it arrives."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ITEM = re.compile(r'href="/portal/work-items/([0-9a-f-]{36})"')
SECRET = re.compile(r'id="secret-key">([A-Z2-7 ]+)<')
INVITATION = re.compile(r'id="invitation-link" href="([^"]+)"')
NAMES = ["Priya Shah", "Sam Lee", "Jo Evans", "Kim Hart", "Ola Obi"]


class PortalRefused(Exception):
    pass


def _token(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    if not found:
        raise PortalRefused(f"no form on {page.url} ({page.status_code})")
    return found.group(1)


async def _post(client: httpx.AsyncClient, page: httpx.Response, path: str, **form: str) -> Any:
    answer = await client.post(path, data={"csrf_token": _token(page), **form})
    if answer.status_code >= 400:
        raise PortalRefused(f"{path}: {answer.status_code}")
    return answer


async def _code(secret: str, client: httpx.AsyncClient, page: httpx.Response) -> httpx.Response:
    """A TOTP code works once: if this step's was used (the demo run again at once), the
    next step's code is taken."""
    for ahead in (0, 1):
        code = pyotp.TOTP(secret).at(time.time() + 30 * ahead)
        answer = await client.post(
            "/portal/sign-in/code", data={"csrf_token": _token(page), "code": code}
        )
        if answer.status_code == 303:
            return answer
    raise PortalRefused("the authenticator code was refused")


async def sign_in(client: httpx.AsyncClient, username: str, password: str, secret: str) -> None:
    page = await client.get("/portal/sign-in")
    await _post(client, page, "/portal/sign-in", username=username, password=password)
    await _code(secret, client, await client.get("/portal/sign-in/code"))


@dataclass
class Caseworker:
    service: str
    portal: str
    name: str
    rng: random.Random
    say: Callable[[str], None]
    counts: Counter[str] = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)
    worked: list[str] = field(default_factory=list)
    client: httpx.AsyncClient | None = None

    @classmethod
    async def invited(
        cls,
        portal: str,
        service: str,
        admin: dict[str, str],
        rng: random.Random,
        say: Callable[[str], None],
    ) -> Caseworker:
        """The portal's administrator invites a new caseworker, who accepts and signs in."""
        base = portal.rstrip("/").removesuffix("/portal")
        name = rng.choice(NAMES)
        username = f"{name.lower().replace(' ', '.')}.{rng.randrange(16**4):04x}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as admin_client:
            await sign_in(admin_client, admin["username"], admin["password"], admin["totp_secret"])
            form = await admin_client.get("/portal/people/invite")
            created = await _post(
                admin_client,
                form,
                "/portal/people/invite",
                display_name=name,
                username=username,
                role="caseworker",
            )
            link = INVITATION.search(created.text)
            if not link:
                raise PortalRefused("no invitation link")
        client = httpx.AsyncClient(base_url=base, timeout=15)
        words = ["river", "maple", "lantern", "copper", "meadow", "harbour"]
        password = " ".join(rng.choice(words) for _ in range(4)) + f" {rng.randrange(10**6)}"
        invitation = link.group(1).removeprefix(base)
        page = await client.get(invitation)
        await _post(client, page, invitation, password=password, confirm_password=password)
        page = await client.get(invitation + "/authenticator")
        secret_found = SECRET.search(page.text)
        if not secret_found:
            raise PortalRefused("no authenticator key on the page")
        secret = secret_found.group(1).replace(" ", "")
        await _post(
            client,
            page,
            invitation + "/authenticator",
            code=pyotp.TOTP(secret).now(),
        )
        say(f"{service} administrator invited {name} ({username}); they enrolled an authenticator")
        await sign_in(client, username, password, secret)
        say(f"{name} signed in to the {service} portal with a password and a code")
        return cls(service, portal, name, rng, say, client=client)

    async def _pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(0.3, 1.2))

    async def work(self, referral_id: str) -> None:
        """One referral through the portal's pages, as a caseworker would."""
        assert self.client is not None
        client, path = self.client, f"/portal/work-items/{referral_id}"
        item = await client.get(path)
        shown = await _post(client, item, f"{path}/contact-details")
        await self._pause()
        if self.rng.random() < 0.1:
            form = await client.get(f"{path}/reject")
            await _post(client, form, f"{path}/reject", reason="capacity", note="")
            self.counts["rejected"] += 1
            return
        await _post(client, shown, f"{path}/accept")
        self.counts["accepted"] += 1
        for attempt in range(3):
            await self._pause()
            reached = attempt == 2 or self.rng.random() < 0.6
            form = await client.get(f"{path}/contact-attempts")
            fields = dict(
                re.findall(r'name="(day|month|year|time)"[^>]*value="([^"]*)"', form.text)
            )
            await _post(
                client,
                form,
                f"{path}/contact-attempts",
                **fields,
                channel="phone",
                result="contacted" if reached else "no_answer",
            )
            if reached:
                break
        await self._pause()
        form = await client.get(f"{path}/outcome")
        await _post(
            client,
            form,
            f"{path}/outcome",
            status="completed",
            **{
                "measure-engaged": "yes",
                "measure-risk_reduced": "yes" if self.rng.random() < 0.9 else "no",
                "measure-cope_and_recover": "improved" if self.rng.random() < 0.85 else "no_change",
            },
        )
        self.counts["completed"] += 1

    async def run(self, stop: asyncio.Event, staff: httpx.AsyncClient) -> None:
        """Work the queue, newest arrivals as they come, and follow each referral's timeline
        at intake, printing each step that names this caseworker."""
        assert self.client is not None
        watcher = asyncio.create_task(self._watch(stop, staff))
        try:
            while not stop.is_set():
                try:
                    queue = await self.client.get("/portal/queue", params={"show": "awaiting"})
                    for referral_id in dict.fromkeys(ITEM.findall(queue.text)):
                        if referral_id in self.seen or stop.is_set():
                            continue
                        self.seen.add(referral_id)
                        self.counts["received"] += 1
                        try:
                            await self.work(referral_id)
                            self.worked.append(referral_id)
                        except (PortalRefused, httpx.HTTPError):
                            self.counts["gone"] += 1
                except httpx.HTTPError:
                    self.counts["errors"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
        finally:
            watcher.cancel()
            await self.client.aclose()

    async def _watch(self, stop: asyncio.Event, staff: httpx.AsyncClient) -> None:
        printed: set[tuple[str, str, str]] = set()
        while not stop.is_set():
            for referral_id in list(self.worked[-20:]):
                with contextlib.suppress(httpx.HTTPError):
                    view = (await staff.get(f"/v1/referrals/{referral_id}")).json()
                    for entry in view.get("timeline", []):
                        if not entry.get("by_actor"):
                            continue
                        key = (referral_id, entry["event"], entry["at"])
                        if key in printed:
                            continue
                        printed.add(key)
                        detail = entry.get("status", "")
                        self.say(
                            f"  intake timeline  referral {referral_id[:8]}  {entry['event']:<16}"
                            f" {detail:<12} by {entry['by']}"
                        )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
