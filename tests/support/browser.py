"""A real browser for the provider portal's tests: Debian's Chromium (``/usr/bin/chromium``,
installed by ``make``, never a browser downloaded by Playwright) driven by Playwright, with
axe-core (pinned in package-lock.json) checking every page against WCAG 2.2 AA, and
screenshots of the pages kept in ``.dev/screenshots/`` for people to look at."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".dev" / "screenshots"
# Without the background-networking flags Chromium reaches out to the internet on its own,
# which a closed network refuses (and which no test should depend on).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise AssertionError("Debian's Chromium is missing: `make browser` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def context(browser: Browser, *, javascript: bool = True) -> BrowserContext:
    """A fresh browser profile (its own cookies). The pages' content security policy allows
    only their own scripts; the tests lift it so that axe-core can be added to each page."""
    return browser.new_context(
        bypass_csp=True, java_script_enabled=javascript, viewport={"width": 1100, "height": 900}
    )


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds against WCAG 2.2 A and AA on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})""", WCAG_22_AA
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


@dataclass
class Checked:
    """Each page a test visits: accessible (axe-core finds nothing), and photographed."""

    pages: list[str]

    def page(self, page: Page, name: str) -> None:
        """Checked with JavaScript on (axe needs it); the pages themselves need none."""
        violations = accessibility_violations(page)
        assert not violations, f"{name} ({page.url}): {violations}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"portal-{name}.png"), full_page=True)
        self.pages.append(name)


def csrf_field(page: Page) -> None:
    assert page.locator("input[name=csrf_token]").count() > 0


def code_for(secret: str, *, ahead: int = 0) -> str:
    """The TOTP code for now, or for the next time step (``ahead=1``): a code is accepted
    once, so a second sign-in within 30 seconds of the last uses the next step's code, as the
    drift allowance lets it."""
    return pyotp.TOTP(secret).at(time.time() + 30 * ahead)


def enter_password(page: Page, username: str, password: str) -> None:
    """The first step of signing in, on the sign-in page ``page`` shows."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Continue").click()


def sign_in(
    page: Page,
    portal: str,
    username: str,
    password: str,
    secret: str,
    *,
    checked: Checked | None = None,
    ahead: int = 1,
) -> None:
    page.goto(portal + "sign-in")
    if checked:
        checked.page(page, "sign-in")
    enter_password(page, username, password)
    page.get_by_label("Enter the code from your authenticator app").fill(
        code_for(secret, ahead=ahead)
    )
    if checked:
        checked.page(page, "sign-in-code")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/portal/queue$"))


@dataclass
class NewPerson:
    username: str
    name: str
    password: str
    secret: str
    account_id: str
    link: str
    """The one-time invitation link they were given."""


def invite_and_enrol(
    admin: Page,
    newcomer: Page,
    portal: str,
    *,
    name: str,
    username: str,
    role: str = "Caseworker",
    checked: Checked | None = None,
) -> NewPerson:
    """An administrator invites someone; they open the link in their own browser, choose a
    password and enrol their authenticator app (the test reads the key off the page)."""
    admin.goto(portal + "people")
    if checked:
        checked.page(admin, "people")
    admin.get_by_role("button", name="Invite someone").click()
    admin.get_by_label("Full name").fill(name)
    admin.get_by_label("Username").fill(username)
    admin.get_by_label(role, exact=True).check()
    if checked:
        checked.page(admin, "invite")
    admin.get_by_role("button", name="Create invitation").click()
    link = admin.locator("#invitation-link").get_attribute("href")
    assert link
    assert "/portal/invitations/" in link
    if checked:
        checked.page(admin, "invitation-created")
    password = f"correct horse battery staple {secrets.token_hex(4)}"
    newcomer.goto(link)
    if checked:
        checked.page(newcomer, "set-up-account")
    newcomer.get_by_label("Create a password").fill(password)
    newcomer.get_by_label("Confirm your password").fill(password)
    newcomer.get_by_role("button", name="Continue").click()
    secret = newcomer.locator("#secret-key").inner_text().replace(" ", "")
    if checked:
        checked.page(newcomer, "set-up-authenticator")
    newcomer.get_by_label("Code from your authenticator app").fill(code_for(secret))
    newcomer.get_by_role("button", name="Finish setting up").click()
    newcomer.wait_for_url(re.compile(r".*/portal/sign-in\?notice=ready$"))
    admin.goto(portal + "people")
    href = admin.get_by_role("link", name=name).get_attribute("href")
    assert href
    account_id = href.rsplit("/", 1)[-1]
    return NewPerson(username, name, password, secret, account_id, link)
