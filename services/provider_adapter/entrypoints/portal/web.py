"""What every portal page shares: the Jinja environment with GOV.UK Frontend's macros
(``govuk-frontend-jinja``), the built assets, cookies, the signed double-submit CSRF token
(``itsdangerous``), the signed-in person, and turning the handlers' refusals into pages.

Cookies: the session and CSRF cookies are HttpOnly and SameSite=Lax, and Secure with the
``__Host-`` prefix (this host only, path /, HTTPS only) unless ``PORTAL_COOKIE_SECURE`` is off,
which only the local stack may do (it serves http://127.0.0.1; production refuses the
setting). Their names carry the provider's service, because cookies do not tell ports
apart: on 127.0.0.1 every provider's portal shares one cookie jar.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import (
    ChainableUndefined,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
)
from starlette.datastructures import FormData

from schemas.refusals import NotFound
from services.provider_adapter.adapters.intake_client import VaultUnreachable
from services.provider_adapter.domain.accounts import SessionState
from services.provider_adapter.entrypoints.portal import present
from services.provider_adapter.handlers import accounts
from services.provider_adapter.handlers.common import Adapter, Gone

log = logging.getLogger(__name__)

PREFIX = "/portal"
HERE = Path(__file__).parent
BUILD = HERE / "static" / "build"
ASSETS = {
    "portal.css": "text/css; charset=utf-8",
    "govuk-frontend.min.js": "text/javascript; charset=utf-8",
    "portal.mjs": "text/javascript; charset=utf-8",
}
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_SECONDS = 12 * 3600


class AssetsMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Assets:
    files: dict[str, bytes]
    version: str
    """A digest of the files: their URLs change when they do, so browsers may keep them."""


def load_assets(directory: Path = BUILD) -> Assets:
    """The built stylesheet and scripts (``npm run build``, which ``make`` and the image's
    build run). Missing files stop the adapter at start, with what to run."""
    files: dict[str, bytes] = {}
    for name in ASSETS:
        path = directory / name
        if not path.is_file():
            raise AssetsMissing(
                f"the provider portal's assets are not built ({path} is missing): run "
                "`make portal-assets` (npm ci, then npm run build)"
            )
        files[name] = path.read_bytes()
    digest = hashlib.sha256(b"".join(files[n] for n in sorted(files))).hexdigest()[:12]
    return Assets(files, digest)


def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(HERE / "templates"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=True,
        # The GOV.UK macros read optional parameters that may be absent (``params.slots.x``).
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(present.FILTERS)
    env.globals.update(present.GLOBALS)
    return env


P = ParamSpec("P")


class Web:
    """The portal of one adapter: its templates, assets, cookie names and signing key."""

    def __init__(self, adapter: Adapter, assets: Assets) -> None:
        self.adapter = adapter
        self.assets = assets
        self.env = environment()
        settings = adapter.settings
        self.secure = settings.portal_cookie_secure
        prefix = "__Host-" if self.secure else ""
        service = adapter.service.value.lower()
        self.session_cookie = f"{prefix}portal-session-{service}"
        self.pending_cookie = f"{prefix}portal-signing-in-{service}"
        self.csrf_cookie = f"{prefix}portal-csrf-{service}"
        self.serializer = URLSafeTimedSerializer(
            settings.portal_secret_key.get_secret_value(), salt=f"portal-csrf-{service}"
        )

    # ---- cookies ------------------------------------------------------------------------
    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def forget(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="lax")

    # ---- CSRF -----------------------------------------------------------------------------
    def _binding(self, request: Request) -> str:
        """Tokens made for one session are no good in another."""
        session = request.cookies.get(self.session_cookie) or request.cookies.get(
            self.pending_cookie
        )
        return hashlib.sha256(session.encode()).hexdigest()[:16] if session else ""

    def csrf_token(self, request: Request, response_cookies: dict[str, str]) -> str:
        value = request.cookies.get(self.csrf_cookie) or response_cookies.get(self.csrf_cookie)
        if not value:
            value = secrets.token_urlsafe(32)
            response_cookies[self.csrf_cookie] = value
        return str(self.serializer.dumps([value, self._binding(request)]))

    async def checked_form(self, request: Request) -> FormData:
        """The form, once its CSRF token proves it came from a page this portal served to
        this browser (and this session): ``CsrfRefused`` otherwise."""
        form = await request.form()
        token = form.get(CSRF_FIELD)
        cookie = request.cookies.get(self.csrf_cookie)
        if not isinstance(token, str) or not cookie:
            raise CsrfRefused
        try:
            value, binding = self.serializer.loads(token, max_age=CSRF_MAX_AGE_SECONDS)
        except (BadSignature, ValueError, TypeError) as exc:
            raise CsrfRefused from exc
        if not (
            isinstance(value, str)
            and hmac.compare_digest(value, cookie)
            and binding == self._binding(request)
        ):
            raise CsrfRefused
        return form

    # ---- pages ----------------------------------------------------------------------------
    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        person: accounts.SignedIn | None = None,
    ) -> HTMLResponse:
        cookies: dict[str, str] = {}
        nonce = secrets.token_urlsafe(16)
        html = self.env.get_template(template).render(
            request=request,
            service=self.adapter.service.value,
            service_name=present.SERVICE_NAMES[self.adapter.service.value],
            person=person,
            csrf_token=self.csrf_token(request, cookies),
            csrf_field=CSRF_FIELD,
            asset=lambda name: f"{PREFIX}/assets/{name}?v={self.assets.version}",
            cspNonce=nonce,
            current_path=request.url.path,
            **(context or {}),
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["content-security-policy"] = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        for name, value in cookies.items():
            self.set_cookie(response, name, value, None)
        return response

    def not_found(self, request: Request, person: accounts.SignedIn | None = None) -> HTMLResponse:
        return self.render(request, "not_found.html", status=404, person=person)

    def redirect(self, path: str, **query: str) -> RedirectResponse:
        """303: after a form, the browser follows with a GET."""
        suffix = f"?{urlencode(query)}" if query else ""
        return RedirectResponse(f"{PREFIX}{path}{suffix}", status_code=303)

    def to_sign_in(self, why: SessionState | None) -> RedirectResponse:
        response = self.redirect("/sign-in", **({"ended": why.value} if why else {}))
        self.forget(response, self.session_cookie)
        return response

    async def person(
        self, request: Request, *, administrators_only: bool = False
    ) -> accounts.SignedIn:
        """The signed-in person; ``SignInNeeded`` when there is none (or their session has
        timed out); with ``administrators_only``, ``AdministratorsOnly`` when they are not
        their provider's portal administrator."""
        token = request.cookies.get(self.session_cookie)
        if not token:
            raise SignInNeeded(None)
        try:
            person = await accounts.current(self.adapter, token)
        except accounts.SessionEnded as exc:
            raise SignInNeeded(exc.why) from exc
        if administrators_only and not person.is_administrator:
            raise AdministratorsOnly
        return person


class CsrfRefused(Exception):
    pass


class SignInNeeded(Exception):
    def __init__(self, why: SessionState | None) -> None:
        super().__init__(str(why))
        self.why = why


class AdministratorsOnly(Exception):
    pass


def parse_id(raw: str) -> uuid.UUID:
    """An id from a portal URL; anything that is not one is a page that does not exist."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound from exc


def of(request: Request) -> Web:
    portal: Web = request.app.state.portal
    return portal


async def visit(
    request: Request, raw_id: str, *, administrators_only: bool = False
) -> tuple[Web, uuid.UUID, accounts.SignedIn]:
    """What a page about one thing (a work item, a person's account) starts from: the
    portal, the id from its URL (``NotFound`` when it is not one) and the signed-in person
    (see ``Web.person``)."""
    web = of(request)
    thing = parse_id(raw_id)
    return web, thing, await web.person(request, administrators_only=administrators_only)


def page(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Turns what a page's code raises into what the person sees: the sign-in page when
    their session has ended, 403 for a form without its token, 404 for anything not in this
    provider's queue (exactly as for something that does not exist), 410 for a referral
    whose personal data was erased, 503 when intake cannot be reached. Every page handler
    takes ``request``."""

    @functools.wraps(handler)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        portal = of(request)
        try:
            return await handler(*args, **kwargs)
        except SignInNeeded as exc:
            return portal.to_sign_in(exc.why)
        except CsrfRefused:
            log.warning("portal form refused: missing or wrong CSRF token")
            return portal.render(request, "csrf_refused.html", status=403)
        except (NotFound, AdministratorsOnly):
            return portal.not_found(request)
        except Gone:
            # An erased referral: nothing more is recorded on it (the API answers 410 too).
            return portal.render(request, "gone.html", status=410)
        except VaultUnreachable:
            return portal.render(request, "unavailable.html", status=503)

    return wrapped
