"""The provider portal in a real browser (Debian's Chromium, driven by Playwright) against the
running hub: an administrator invites a caseworker, who enrols a second factor, signs in and
works a referral from the queue to its outcome; intake's timeline and disclosure log name
them. Another provider's people get 404 for it; every page passes axe-core (WCAG 2.2 AA);
a form without its CSRF token changes nothing; repeated failures lock an account; an idle
session ends. Screenshots of the pages are kept in .dev/screenshots/."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import (
    Checked,
    NewPerson,
    chromium,
    code_for,
    context,
    enter_password,
    invite_and_enrol,
    sign_in,
)
from tests.support.referrals import high_risk_da
from tests.support.stack import RunningStack
from tests.support.waiting import eventually_sync

pytestmark = pytest.mark.e2e

SAFE_CONTACT_NOTES = "Only call on weekday mornings; her partner is home after noon"
PHONE = "07700 900456"


def _query(hub: RunningStack, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(hub.info()["database_url"])
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    # Playwright's synchronous API keeps an event loop running in this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def checked() -> Checked:
    return Checked([])


@pytest.fixture(scope="module")
def idva_admin(hub: RunningStack, browser: Browser, checked: Checked) -> Iterator[Page]:
    """The IDVA portal's first administrator, made by the local stack, signed in once for
    the module (a TOTP code works once)."""
    info = hub.info()
    admin = info["portal_administrators"]["IDVA"]
    ctx = context(browser)
    page = ctx.new_page()
    sign_in(
        page,
        info["provider_portal_urls"]["IDVA"],
        admin["username"],
        admin["password"],
        admin["totp_secret"],
        checked=checked,
    )
    yield page
    ctx.close()


@pytest.fixture(scope="module")
def caseworker(
    hub: RunningStack, browser: Browser, idva_admin: Page, checked: Checked
) -> Iterator[tuple[NewPerson, Page]]:
    """A caseworker invited by the administrator, enrolled and signed in in a browser of
    their own."""
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    ctx = context(browser)
    page = ctx.new_page()
    person = invite_and_enrol(
        idva_admin,
        page,
        portal,
        name="Priya Shah",
        username=f"priya.shah.{secrets.token_hex(3)}",
        checked=checked,
    )
    sign_in(page, portal, person.username, person.password, person.secret)
    yield person, page
    ctx.close()


@pytest.fixture
def colleague(
    hub: RunningStack, browser: Browser, idva_admin: Page
) -> Iterator[Callable[[str], tuple[Page, NewPerson]]]:
    """Invites someone of the given name to the IDVA portal (the administrator does) and
    enrols them in a browser of their own; the browsers close at the end of the test."""
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    contexts: list[BrowserContext] = []

    def invite(name: str) -> tuple[Page, NewPerson]:
        ctx = context(browser)
        contexts.append(ctx)
        page = ctx.new_page()
        username = f"{name.lower().replace(' ', '.')}.{secrets.token_hex(3)}"
        return page, invite_and_enrol(idva_admin, page, portal, name=name, username=username)

    yield invite
    for ctx in contexts:
        ctx.close()


def _submit(hub: RunningStack) -> str:
    body = high_risk_da()
    body["contact"].update(
        {"phone": PHONE, "safe_contact_notes": SAFE_CONTACT_NOTES, "name": "Test Person"}
    )
    answer = hub.staff().post("/v1/referrals", json=body)
    assert answer.status_code == 202, answer.text
    referral_id: str = answer.json()["referral_id"]
    return referral_id


def _find_in_queue(page: Page, portal: str, referral_id: str) -> None:
    link = page.get_by_role("link", name=re.compile(f"Referral {referral_id[:8]}"))

    def listed() -> bool:
        page.goto(portal + "queue")
        return link.count() == 1

    eventually_sync(listed, timeout=40, interval=0.5, what="the referral in the portal's queue")
    link.click()


def test_a_caseworker_works_a_referral_from_the_queue_to_its_outcome_named_at_intake(
    hub: RunningStack, caseworker: tuple[NewPerson, Page], checked: Checked
) -> None:
    person, page = caseworker
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    referral_id = _submit(hub)

    late = _submit(hub)
    # The queue: most urgent first, clocks counting down in words, a breach marked.
    _find_in_queue(page, portal, late)
    _query(
        hub,
        """UPDATE adapter_idva.work_items SET acknowledge_by = now() - interval '20 minutes'
           WHERE referral_id = $1""",
        late,
    )
    _find_in_queue(page, portal, referral_id)
    page.goto(portal + "queue")
    row = page.locator("tr", has=page.get_by_role("link", name=re.compile(referral_id[:8])))
    expect(row).to_contain_text("Urgent")
    expect(row).to_contain_text(re.compile(r"Due in \d+ (hour|minute)s?"))
    breached = page.locator("tr", has=page.get_by_role("link", name=re.compile(late[:8])))
    expect(breached).to_contain_text(re.compile(r"Breached\s+Overdue by 2\d minutes"))
    checked.page(page, "queue")

    # The work item: coded facts, contact details behind an explicit action.
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Referral {referral_id[:8]}")
    expect(page.locator("body")).not_to_contain_text(PHONE)
    expect(page.locator("body")).to_contain_text("DASH risk assessment")
    checked.page(page, "work-item")
    page.get_by_role("button", name="Show contact details").click()
    body = page.locator("main").inner_text()
    assert PHONE in body
    assert body.index(SAFE_CONTACT_NOTES) < body.index(PHONE), "safe-contact notes come first"
    checked.page(page, "contact-details")

    # Accept, a contact attempt that reached the person, the outcome with its measures.
    page.get_by_role("button", name="Accept referral").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You accepted")
    page.get_by_role("button", name="Record a contact attempt").click()
    page.get_by_label("Phone call").check()
    page.get_by_label("Spoke to the person").check()
    checked.page(page, "contact-attempt")
    page.get_by_role("button", name="Record contact attempt").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Contact attempt")
    expect(page.locator("main")).to_contain_text("In progress")
    page.get_by_role("button", name="Record the outcome").click()
    page.get_by_label("Support completed").check()
    page.locator("#measure-risk_reduced").check()  # Yes
    page.locator("#measure-cope_and_recover").check()  # Improved
    checked.page(page, "outcome")
    page.get_by_role("button", name="Record outcome").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Outcome recorded")
    expect(page.locator("main")).to_contain_text("Completed")

    # The portal's own timeline names who did each step.
    page.get_by_role("link", name="View the timeline of this referral").click()
    table = page.locator("table")
    for step in ("Decision recorded", "Contact attempt recorded", "Outcome recorded"):
        expect(table.locator("tr", has_text=step)).to_contain_text("Priya Shah")
    expect(table.locator("tr", has_text="Contact details shown")).to_contain_text("Priya Shah")
    checked.page(page, "timeline")

    # Intake's timeline names the caseworker for every step they took; the bus carried
    # only the coded actor.
    actor = f"IDVA:caseworker:{person.account_id}"
    staff = hub.staff()

    def named_steps() -> list[dict[str, Any]] | None:
        view = staff.get(f"/v1/referrals/{referral_id}").json()
        mine = [e for e in view["timeline"] if e.get("by_actor") == actor]
        return mine if {e["event"] for e in mine} >= {"acknowledged", "outcome"} else None

    steps = eventually_sync(named_steps, timeout=30, what="the caseworker's steps at intake")
    assert {e["event"] for e in steps} >= {"acknowledged", "contact_attempt", "outcome"}
    assert all(e["by"] == "Priya Shah (IDVA)" for e in steps)
    route = next(
        r
        for r in staff.get(f"/v1/referrals/{referral_id}").json()["decision"]["routes"]
        if r["service"] == "IDVA"
    )
    assert route["status"] == "completed"

    # One disclosure-log row for the one showing, naming the person.
    rows = _query(
        hub,
        "SELECT accessor, accessor_name, fields FROM intake.disclosure_log WHERE referral_id = $1",
        referral_id,
    )
    assert [(r["accessor"], r["accessor_name"]) for r in rows] == [(actor, "Priya Shah")]
    assert "phone" in rows[0]["fields"]


def test_invitation_links_stay_out_of_the_traces(
    hub: RunningStack, caseworker: tuple[NewPerson, Page]
) -> None:
    """The portal's requests are traced (the queue's are there), but an invitation link's
    path is its one-time token: no span holds it."""
    person, _ = caseworker
    token = person.link.rsplit("/", 1)[-1]

    def portal_traced() -> bool:
        return "/portal/queue" in hub.spans_text()

    eventually_sync(portal_traced, timeout=30, what="the portal's spans")
    assert token not in hub.spans_text()
    assert token not in hub.log_text()


def test_another_providers_people_get_404_for_it(
    hub: RunningStack,
    browser: Browser,
    caseworker: tuple[NewPerson, Page],
    idva_admin: Page,
    checked: Checked,
) -> None:
    """The ISVA portal's administrator, without JavaScript (the pages need none): an IDVA
    referral is not there, exactly as one that does not exist; and their ISVA session does
    not open the IDVA portal."""
    info = hub.info()
    referral_id = _submit(hub)
    _, idva_page = caseworker
    _find_in_queue(idva_page, info["provider_portal_urls"]["IDVA"], referral_id)

    admin = info["portal_administrators"]["ISVA"]
    isva = info["provider_portal_urls"]["ISVA"]
    ctx = context(browser, javascript=False)
    page = ctx.new_page()
    sign_in(page, isva, admin["username"], admin["password"], admin["totp_secret"])
    answer = page.goto(isva + f"work-items/{referral_id}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    timeline = page.goto(isva + f"work-items/{referral_id}/timeline")
    assert timeline is not None
    assert timeline.status == 404
    nowhere = page.goto(isva + "work-items/00000000-0000-4000-8000-000000000000")
    assert nowhere is not None
    assert nowhere.status == 404
    # (axe-core needs JavaScript: the same page, checked in a browser that has it.)
    idva_admin.goto(info["provider_portal_urls"]["IDVA"] + "work-items/" + referral_id[::-1])
    checked.page(idva_admin, "not-found")
    page.goto(info["provider_portal_urls"]["IDVA"] + f"work-items/{referral_id}")
    assert re.search(r"/portal/sign-in", page.url)
    ctx.close()


def test_a_form_posted_without_its_csrf_token_changes_nothing(
    hub: RunningStack, caseworker: tuple[NewPerson, Page]
) -> None:
    _, page = caseworker
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    referral_id = _submit(hub)
    _find_in_queue(page, portal, referral_id)
    # The browser's own cookies (session included), but no token: refused.
    refused = page.request.post(portal + f"work-items/{referral_id}/accept", form={})
    assert refused.status == 403
    assert "Nothing was changed" in refused.text()
    # A token from another page of another session does not do either.
    forged = page.request.post(
        portal + f"work-items/{referral_id}/accept", form={"csrf_token": "forged.token.value"}
    )
    assert forged.status == 403
    page.goto(portal + f"work-items/{referral_id}")
    expect(page.get_by_role("button", name="Accept referral")).to_be_visible()
    view = hub.provider("IDVA").get("/v1/queue").json()["items"]
    assert next(i for i in view if i["referral_id"] == referral_id)["status"] != "accepted"


def test_repeated_failures_lock_an_account(
    hub: RunningStack, idva_admin: Page, colleague: Callable[[str], tuple[Page, NewPerson]]
) -> None:
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    page, person = colleague("Sam Lee")
    for _ in range(5):
        page.goto(portal + "sign-in")
        enter_password(page, person.username, "not the password at all")
    expect(page.locator(".govuk-error-summary")).to_contain_text("locked")
    # Now even the right password does not get in.
    enter_password(page, person.username, person.password)
    expect(page.locator(".govuk-error-summary")).to_contain_text("locked")
    assert "/sign-in/code" not in page.url
    idva_admin.goto(portal + "people")
    expect(idva_admin.locator("tr", has_text="Sam Lee")).to_contain_text("Locked")


def test_an_idle_session_ends(
    hub: RunningStack, colleague: Callable[[str], tuple[Page, NewPerson]]
) -> None:
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    page, person = colleague("Jo Evans")
    sign_in(page, portal, person.username, person.password, person.secret)
    # Thirty-one minutes without a request (the default idle time-out is 30).
    _query(
        hub,
        """UPDATE adapter_idva.portal_sessions SET last_seen_at = now() - interval '31 minutes'
           WHERE account_id = $1""",
        person.account_id,
    )
    page.goto(portal + "queue")
    assert "/portal/sign-in?ended=idle" in page.url
    expect(page.locator(".govuk-notification-banner")).to_contain_text("signed out")


def test_a_removed_person_is_signed_out_and_cannot_sign_in(
    hub: RunningStack,
    idva_admin: Page,
    checked: Checked,
    colleague: Callable[[str], tuple[Page, NewPerson]],
) -> None:
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    page, person = colleague("Dee Moss")
    sign_in(page, portal, person.username, person.password, person.secret)
    idva_admin.goto(portal + f"people/{person.account_id}")
    idva_admin.get_by_role("button", name="Remove Dee Moss").click()
    checked.page(idva_admin, "remove")
    idva_admin.get_by_role("button", name="Remove Dee Moss").click()
    expect(idva_admin.locator(".govuk-notification-banner")).to_contain_text("Dee Moss")
    expect(idva_admin.locator("tr", has_text="Dee Moss")).to_contain_text("Removed")
    page.goto(portal + "queue")
    assert "/portal/sign-in" in page.url
    enter_password(page, person.username, person.password)
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a correct username")


def test_sign_out_ends_the_session(
    hub: RunningStack, browser: Browser, colleague: Callable[[str], tuple[Page, NewPerson]]
) -> None:
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    page, person = colleague("Ola Obi")
    sign_in(page, portal, person.username, person.password, person.secret)
    cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have signed out")
    # The old cookie is worth nothing now: the session is gone from the server.
    replay = context(browser)
    replay.add_cookies(cookies)  # type: ignore[arg-type]
    again = replay.new_page()
    again.goto(portal + "queue")
    assert "/portal/sign-in" in again.url
    replay.close()


def test_a_wrong_code_is_refused(
    hub: RunningStack, colleague: Callable[[str], tuple[Page, NewPerson]]
) -> None:
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    page, person = colleague("Kim Hart")
    page.goto(portal + "sign-in")
    enter_password(page, person.username, person.password)
    wrong = f"{(int(code_for(person.secret, ahead=1)) + 1) % 1_000_000:06d}"
    page.get_by_label("Enter the code from your authenticator app").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("The code is not right")
    assert "/portal/queue" not in page.url


def test_changed_contact_details_are_marked_until_the_caseworker_reads_them(
    hub: RunningStack, caseworker: tuple[NewPerson, Page], checked: Checked
) -> None:
    """Issue 26: VAL changes the person's phone and safe-contact notes after the caseworker
    saw the old ones. The queue and the work item say so until the caseworker shows the
    details again; a call recorded meanwhile is refused, saying why."""
    _, page = caseworker
    portal = hub.info()["provider_portal_urls"]["IDVA"]
    referral_id = _submit(hub)
    _find_in_queue(page, portal, referral_id)
    page.get_by_role("button", name="Show contact details").click()
    page.get_by_role("button", name="Accept referral").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You accepted")
    new_phone, new_notes = "07700 900987", "Text first from the new number; never call after 6pm"
    changed = hub.staff().patch(
        f"/v1/referrals/{referral_id}/contact",
        json={"phone": new_phone, "safe_contact_notes": new_notes},
    )
    assert changed.status_code == 200, changed.text

    row = page.locator("tr", has=page.get_by_role("link", name=re.compile(referral_id[:8])))

    def marked() -> bool:
        page.goto(portal + "queue")
        return "Contact details changed" in row.inner_text()

    eventually_sync(marked, timeout=20, interval=0.5, what="the marker in the portal's queue")
    checked.page(page, "queue-contact-changed")
    row.get_by_role("link").click()
    banner = page.locator("#contact-changed")
    expect(banner).to_contain_text("The person's contact details changed")
    expect(banner).to_contain_text("phone number and safe-contact notes")
    expect(page.locator("main")).not_to_contain_text(new_phone)
    checked.page(page, "work-item-contact-changed")

    # A call recorded now, without the new details: refused, nothing recorded.
    page.get_by_role("button", name="Record a contact attempt").click()
    page.get_by_label("Phone call").check()
    page.get_by_label("No answer").check()
    page.get_by_role("button", name="Record contact attempt").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("contact details changed")
    expect(page.locator("main")).to_contain_text("None recorded yet")

    # Showing the details again shows the new ones, and the marker comes off.
    page.get_by_role("button", name="Show contact details").click()
    main = page.locator("main").inner_text()
    assert new_phone in main
    assert new_notes in main
    assert PHONE not in main
    expect(page.locator("#contact-changed")).to_have_count(0)
    page.goto(portal + "queue")
    expect(row).not_to_contain_text("Contact details changed")
    page.goto(portal + f"work-items/{referral_id}/contact-attempts")
    page.get_by_label("Phone call").check()
    page.get_by_label("Spoke to the person").check()
    this_year = page.get_by_label("Year").input_value()
    # An attempt cannot be dated before the referral reached the service (it would count
    # towards the contact standard on paper only).
    page.get_by_label("Year").fill("2020")
    page.get_by_role("button", name="Record contact attempt").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "cannot be before the referral reached your service"
    )
    page.get_by_label("Year").fill(this_year)
    page.get_by_role("button", name="Record contact attempt").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Contact attempt")


def test_every_page_visited_was_checked(checked: Checked) -> None:
    """The main pages were all checked by axe-core (and photographed) in this module."""
    expected = {
        "sign-in", "sign-in-code", "people", "invite", "invitation-created", "set-up-account",
        "set-up-authenticator", "queue", "work-item", "contact-details", "contact-attempt",
        "outcome", "timeline", "not-found", "remove",
    }  # fmt: skip
    assert expected <= set(checked.pages), expected - set(checked.pages)


def test_the_pages_keep_to_their_content_security_policy(
    hub: RunningStack, browser: Browser
) -> None:
    """The other tests lift the pages' content security policy to add axe-core; here it
    holds, and nothing the pages load or run is refused (the Design System's script runs)."""
    info = hub.info()
    portal = info["provider_portal_urls"]["CLIMB"]
    admin = info["portal_administrators"]["CLIMB"]
    ctx = browser.new_context()
    page = ctx.new_page()
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: refused.append(str(error)))
    sign_in(page, portal, admin["username"], admin["password"], admin["totp_secret"])
    for path in ("queue", "people", "people/invite"):
        page.goto(portal + path)
        # The Design System's script ran: it started the navigation component.
        expect(page.locator("[data-govuk-service-navigation-init]")).to_have_count(1)
    assert not refused, refused
    ctx.close()
