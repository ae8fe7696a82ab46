"""Signing in and out, accepting an invitation, and an administrator's people pages."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from schemas.refusals import NotFound, Refused
from services.plumbing.guard import RequestGuard, source_of
from services.provider_adapter.domain.accounts import (
    Role,
    display_name_problem,
    normalise_username,
    password_problem,
    username_problem,
)
from services.provider_adapter.entrypoints.portal import present
from services.provider_adapter.entrypoints.portal.forms import NO_ERRORS, Problems, text
from services.provider_adapter.entrypoints.portal.web import Web, of, page, visit
from services.provider_adapter.handlers import accounts

router = APIRouter(include_in_schema=False)

NOTICES = {
    "idle": (
        "You were signed out because you had not done anything for a while. Sign in again.",
        None,
    ),
    "expired": ("Your session ended. Sign in again.", None),
    "signed_out": ("You have signed out.", "success"),
    "ready": (
        "Your account is ready. Sign in with your username, your password and a code from "
        "your authenticator app.",
        "success",
    ),
    "start_again": ("Signing in took too long. Start again.", None),
}


def _guard(request: Request) -> RequestGuard | None:
    """The service's request guard, whose failed-authentication window the sign-in shares
    (none in an app built without one)."""
    guard = getattr(request.app.state, "guard", None)
    return guard if isinstance(guard, RequestGuard) else None


def _sign_in_page(
    web: Web,
    request: Request,
    *,
    username: str = "",
    problems: Problems | None = None,
    status: int | None = None,
) -> Response:
    notice = NOTICES.get(request.query_params.get("ended", "")) or NOTICES.get(
        request.query_params.get("notice", "")
    )
    settings = web.adapter.settings
    return web.render(
        request,
        "sign_in.html",
        {
            **(problems.context() if problems else NO_ERRORS),
            "username": username,
            "notice": notice[0] if notice else None,
            "notice_type": notice[1] if notice else None,
            "lockout_attempts": settings.portal_lockout_attempts,
            "lockout_minutes": f"{settings.portal_lockout_minutes:g}",
        },
        status=status or (400 if problems else 200),
    )


@router.get("/portal")
@router.get("/portal/")
async def home() -> Response:
    return Response(status_code=303, headers={"location": "/portal/queue"})


@router.get("/portal/sign-in")
@page
async def sign_in_form(request: Request) -> Response:
    web = of(request)
    token = request.cookies.get(web.session_cookie)
    if token:
        try:
            await accounts.current(web.adapter, token)
            return web.redirect("/queue")
        except accounts.SessionEnded:
            pass
    return _sign_in_page(web, request)


@router.post("/portal/sign-in")
@page
async def sign_in(request: Request) -> Response:
    web = of(request)
    form = await web.checked_form(request)
    username = normalise_username(text(form, "username"))
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    problems = Problems()
    # Wrong passwords count against the source address with the APIs' failed
    # authentications (services/plumbing/guard.py): the per-account lock-out alone would
    # let one address try a password against every account.
    guard, source = _guard(request), source_of(request.scope)
    wait = await guard.failures.retry_after(source) if guard else None
    if wait is not None:
        problems.add(
            "username",
            "There have been too many wrong sign-ins from your network. Try again in "
            + (f"{-(-wait // 60)} minutes" if wait > 60 else "a minute"),
        )
        response = _sign_in_page(web, request, username=username, problems=problems, status=429)
        response.headers["retry-after"] = str(wait)
        return response
    if not username:
        problems.add("username", "Enter your username")
    if not password:
        problems.add("password", "Enter your password")
    if not problems:
        try:
            token = await accounts.check_password(web.adapter, username, password)
        except accounts.Locked as exc:
            problems.add(
                "username",
                "Your account is locked after too many wrong attempts. Try again after "
                + present.london(exc.until).split(" at ")[1],
            )
        except accounts.SignInFailed:
            if guard is not None:
                await guard.failures.failed(source)
            problems.add("username", "Enter a correct username and password")
        else:
            response = web.redirect("/sign-in/code")
            web.set_cookie(
                response, web.pending_cookie, token, max_age=accounts.SECOND_FACTOR_MINUTES * 60
            )
            return response
    return _sign_in_page(web, request, username=username, problems=problems)


@router.get("/portal/sign-in/code")
@page
async def code_form(request: Request) -> Response:
    web = of(request)
    pending = request.cookies.get(web.pending_cookie)
    if not pending or not await accounts.pending_session_is_live(web.adapter, pending):
        return web.redirect("/sign-in", notice="start_again")
    return web.render(request, "sign_in_code.html", NO_ERRORS)


@router.post("/portal/sign-in/code")
@page
async def code(request: Request) -> Response:
    web = of(request)
    form = await web.checked_form(request)
    pending = request.cookies.get(web.pending_cookie)
    problems = Problems()
    entered = text(form, "code")
    if not pending:
        return web.redirect("/sign-in", notice="start_again")
    if not entered:
        problems.add("code", "Enter the 6-digit code from your authenticator app")
    else:
        try:
            token, _ = await accounts.check_code(web.adapter, pending, entered)
        except accounts.SessionEnded:
            response = web.redirect("/sign-in", notice="start_again")
            web.forget(response, web.pending_cookie)
            return response
        except accounts.Locked:
            response = web.redirect("/sign-in")
            web.forget(response, web.pending_cookie)
            return response
        except accounts.SignInFailed:
            problems.add(
                "code",
                "The code is not right. Enter the code your authenticator app shows now",
            )
        else:
            response = web.redirect("/queue")
            web.forget(response, web.pending_cookie)
            web.set_cookie(response, web.session_cookie, token, max_age=None)
            # A new CSRF secret with the new session.
            web.set_cookie(response, web.csrf_cookie, secrets.token_urlsafe(32), None)
            return response
    return web.render(request, "sign_in_code.html", problems.context(), status=400)


@router.post("/portal/sign-out")
@page
async def sign_out(request: Request) -> Response:
    web = of(request)
    await web.checked_form(request)
    token = request.cookies.get(web.session_cookie)
    if token:
        await accounts.sign_out(web.adapter, token)
    response = web.redirect("/sign-in", notice="signed_out")
    web.forget(response, web.session_cookie)
    return response


# ---- accepting an invitation -------------------------------------------------------------------
def _unusable(web: Web, request: Request) -> Response:
    return web.render(request, "invitation_unusable.html", status=404)


@router.get("/portal/invitations/{token}")
@page
async def invitation_form(token: str, request: Request) -> Response:
    web = of(request)
    try:
        invited = await accounts.invitation(web.adapter, token)
    except NotFound:
        return _unusable(web, request)
    return web.render(request, "invitation.html", {**NO_ERRORS, "invited": invited})


@router.post("/portal/invitations/{token}")
@page
async def choose_password(token: str, request: Request) -> Response:
    web = of(request)
    form = await web.checked_form(request)
    try:
        invited = await accounts.invitation(web.adapter, token)
    except NotFound:
        return _unusable(web, request)
    password = form.get("password")
    confirmation = form.get("confirm_password")
    problem = password_problem(
        password if isinstance(password, str) else "",
        confirmation if isinstance(confirmation, str) else "",
        invited["username"],
    )
    if problem:
        problems = Problems()
        field = "confirm_password" if problem.startswith("The passwords") else "password"
        problems.add(field, problem)
        return web.render(
            request, "invitation.html", {**problems.context(), "invited": invited}, status=400
        )
    assert isinstance(password, str)
    await accounts.choose_password(web.adapter, token, password)
    return web.redirect(f"/invitations/{token}/authenticator")


async def _authenticator_page(
    web: Web, request: Request, token: str, problems: Problems | None = None
) -> Response:
    try:
        enrolment = await accounts.enrolment(web.adapter, token)
    except NotFound:
        return _unusable(web, request)
    except Refused:
        return web.redirect(f"/invitations/{token}")
    return web.render(
        request,
        "authenticator.html",
        {**(problems.context() if problems else NO_ERRORS), "enrolment": enrolment},
        status=400 if problems else 200,
    )


@router.get("/portal/invitations/{token}/authenticator")
@page
async def authenticator_form(token: str, request: Request) -> Response:
    return await _authenticator_page(of(request), request, token)


@router.post("/portal/invitations/{token}/authenticator")
@page
async def confirm_authenticator(token: str, request: Request) -> Response:
    web = of(request)
    form = await web.checked_form(request)
    problems = Problems()
    entered = text(form, "code")
    if not entered:
        problems.add("code", "Enter the 6-digit code from your authenticator app")
    else:
        try:
            await accounts.confirm_enrolment(web.adapter, token, entered)
        except NotFound:
            return _unusable(web, request)
        except Refused:
            return web.redirect(f"/invitations/{token}")
        except accounts.SignInFailed:
            problems.add(
                "code", "The code is not right. Enter the code your authenticator app shows now"
            )
        else:
            return web.redirect("/sign-in", notice="ready")
    return await _authenticator_page(web, request, token, problems)


# ---- people (administrators only) ---------------------------------------------------------------
def _link(web: Web, request: Request, token: str) -> str:
    base = web.adapter.settings.portal_public_url or str(request.base_url)
    return f"{base.rstrip('/')}/portal/invitations/{token}"


@router.get("/portal/people")
@page
async def people(request: Request) -> Response:
    web = of(request)
    person = await web.person(request, administrators_only=True)
    everyone = await accounts.people(web.adapter)
    removed = request.query_params.get("removed")
    return web.render(
        request,
        "people.html",
        {
            "people": everyone,
            "removed_name": next(
                (p["display_name"] for p in everyone if str(p["account_id"]) == removed), None
            ),
        },
        person=person,
    )


def _invite_page(
    web: Web,
    request: Request,
    person: accounts.SignedIn,
    values: dict[str, str],
    problems: Problems | None = None,
) -> Response:
    return web.render(
        request,
        "invite.html",
        {**(problems.context() if problems else NO_ERRORS), "values": values},
        person=person,
        status=400 if problems else 200,
    )


@router.get("/portal/people/invite")
@page
async def invite_form(request: Request) -> Response:
    web = of(request)
    person = await web.person(request, administrators_only=True)
    return _invite_page(web, request, person, {"role": Role.CASEWORKER.value})


@router.post("/portal/people/invite")
@page
async def invite(request: Request) -> Response:
    web = of(request)
    person = await web.person(request, administrators_only=True)
    form = await web.checked_form(request)
    values = {
        "display_name": text(form, "display_name"),
        "username": normalise_username(text(form, "username")),
        "role": text(form, "role"),
    }
    problems = Problems()
    if problem := display_name_problem(values["display_name"]):
        problems.add("display_name", problem)
    if problem := username_problem(values["username"]):
        problems.add("username", problem)
    if values["role"] not in {r.value for r in Role}:
        problems.add("role", "Select what they can do", "role")
    if not problems:
        try:
            account_id, token, expires_at = await accounts.invite(
                web.adapter,
                person.account_id,
                username=values["username"],
                display_name=values["display_name"],
                role=Role(values["role"]),
            )
        except Refused as exc:
            problems.add("username", exc.sentence)
        else:
            return _invitation_created(
                web, request, person, values["display_name"], token, expires_at, account_id
            )
    return _invite_page(web, request, person, values, problems)


def _invitation_created(
    web: Web,
    request: Request,
    person: accounts.SignedIn,
    name: str,
    token: str,
    expires_at: Any,
    account_id: uuid.UUID,
) -> Response:
    return web.render(
        request,
        "invitation_created.html",
        {
            "name": name,
            "link": _link(web, request, token),
            "expires_at": expires_at,
            "account_id": account_id,
        },
        person=person,
    )


@router.get("/portal/people/{account_id}")
@page
async def person_page(account_id: str, request: Request) -> Response:
    web, aid, person = await visit(request, account_id, administrators_only=True)
    return await _person_view(web, request, person, aid)


@router.post("/portal/people/{account_id}/invitation")
@page
async def invite_again(account_id: str, request: Request) -> Response:
    web, aid, person = await visit(request, account_id, administrators_only=True)
    await web.checked_form(request)
    account = await accounts.person(web.adapter, aid)
    try:
        token, expires_at = await accounts.invite_again(web.adapter, person.account_id, aid)
    except Refused as exc:
        return await _person_view(web, request, person, aid, exc.sentence)
    return _invitation_created(
        web, request, person, account["display_name"], token, expires_at, aid
    )


async def _person_view(
    web: Web,
    request: Request,
    person: accounts.SignedIn,
    account_id: uuid.UUID,
    refusal: str | None = None,
) -> Response:
    """A person's page; with ``refusal``, why what the administrator asked was not done."""
    account = await accounts.person(web.adapter, account_id)
    return web.render(
        request,
        "person.html",
        {
            "account": account,
            "invitation_expires": await accounts.open_invitation_expiry(web.adapter, account_id),
            "is_self": account_id == person.account_id,
            "errors": [{"text": refusal, "href": "#actions"}] if refusal else [],
            "field_errors": {},
        },
        person=person,
        status=409 if refusal else 200,
    )


@router.get("/portal/people/{account_id}/remove")
@page
async def remove_form(account_id: str, request: Request) -> Response:
    web, aid, person = await visit(request, account_id, administrators_only=True)
    account = await accounts.person(web.adapter, aid)
    if account["state"] == "removed":
        raise NotFound
    return web.render(request, "remove.html", {"account": account}, person=person)


@router.post("/portal/people/{account_id}/remove")
@page
async def remove(account_id: str, request: Request) -> Response:
    web, aid, person = await visit(request, account_id, administrators_only=True)
    await web.checked_form(request)
    try:
        await accounts.remove(web.adapter, person.account_id, aid)
    except Refused as exc:
        return await _person_view(web, request, person, aid, exc.sentence)
    return web.redirect("/people", removed=str(aid))
