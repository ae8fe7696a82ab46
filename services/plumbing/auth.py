"""Bearer-token authentication for staff (JWT with roles) and for other services.

Tokens are asymmetrically signed: services hold only the public key, so a compromised
service cannot mint tokens. The local stack makes its own key pair and mints the tokens it
writes to ``.dev/stack.json``; production points ``STAFF_JWT_PUBLIC_KEY`` at the identity
provider's key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ALGORITHMS = ["ES256", "RS256", "EdDSA"]

STAFF_ROLES = frozenset({"triage", "supervisor", "commissioner"})
SERVICE_ROLE = "service"


_BEARER_ERRORS = {"malformed": "invalid_request", "too_long": "invalid_request"}


def bearer_challenge(error: str | None, description: str | None = None) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750 section 3): ``Bearer`` alone when
    the request carried no bearer credential at all (the RFC: no error code then), else
    with ``error`` (``invalid_request``: malformed; ``invalid_token``: expired, revoked,
    not signed by a trusted issuer, unknown) and a fixed ``error_description``."""
    if error is None:
        return 'Bearer realm="referral-hub"'
    challenge = f'Bearer realm="referral-hub", error="{error}"'
    if description:
        # RFC 6750 3: printable ASCII without the quote and the backslash.
        safe = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')
        challenge += f', error_description="{safe}"'
    return challenge


class Unauthenticated(Exception):
    """The credential is missing, malformed, too long or not one this service accepts.
    ``reason`` is a code for logs and metrics; ``sentence`` is what the client is told;
    ``error`` the RFC 6750 error code its challenge carries (None: no bearer credential
    was offered; by default from ``reason``: ``invalid_request`` for a malformed or
    over-long one, ``invalid_token`` otherwise)."""

    def __init__(self, reason: str, sentence: str, *, error: str | None = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.sentence = sentence
        if error == "":
            error = None if reason == "missing" else _BEARER_ERRORS.get(reason, "invalid_token")
        self.error = error

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header's value for this refusal."""
        return bearer_challenge(self.error, self.sentence)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    service: str | None = None
    """For a service token, the provider service it acts for (e.g. ``IDVA``)."""


class TokenVerifier:
    """Checks a bearer token's signature (against a public key, or the identity provider's
    JWKS, fetched and cached), issuer, audience and expiry.

    A token that passed is remembered (a bounded LRU keyed by the token itself) until it
    expires, and for at most ``cache_seconds``, as long as the JWKS keys are cached, so that
    a key the identity provider withdraws stops vouching for its tokens as soon as it would
    without the cache: checking the ECDSA signature costs several hundred microseconds, a
    tenth of a submission's CPU, and staff send the same token with every request. A token
    that failed is never remembered, so it fails the full check every time."""

    def __init__(
        self,
        public_key_pem: str | None = None,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        cache_size: int = 1024,
        cache_seconds: float = 300.0,
    ) -> None:
        if not public_key_pem and not jwks_url:
            raise ValueError("a public key or a JWKS URL is needed to verify tokens")
        self._key = public_key_pem
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._issuer = issuer
        self._audience = audience
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds

    def _signing_key(self, token: str) -> Any:
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
        return self._key

    def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            valid_until, principal = cached
            if now < valid_until:
                self._cache.move_to_end(token)
                return principal
            del self._cache[token]
        try:
            claims = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=ALGORITHMS,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            sentence = "The bearer token is missing, expired or not signed by a trusted issuer."
            raise HTTPException(
                status_code=401,
                detail=sentence,
                headers={"WWW-Authenticate": bearer_challenge("invalid_token", sentence)},
            ) from exc
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            roles = []
        principal = Principal(
            subject=str(claims["sub"]),
            roles=frozenset(str(r) for r in roles),
            service=claims.get("service"),
        )
        self._remember(token, principal, min(float(claims["exp"]), now + self._cache_seconds))
        return principal

    def _remember(self, token: str, principal: Principal, valid_until: float) -> None:
        if self._cache_size <= 0:
            return
        self._cache[token] = (valid_until, principal)
        self._cache.move_to_end(token)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


_bearer = HTTPBearer(auto_error=False)


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status_code=401,
            detail="This endpoint needs an Authorization: Bearer header.",
            headers={"WWW-Authenticate": bearer_challenge(None)},
        )
    return credentials.credentials


def require_roles(*allowed: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting principals holding any of ``allowed``."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        # The request guard (services/plumbing/guard.py) checked the credential before the
        # body was read; without it (an app built another way), check it here.
        principal = getattr(request.state, "principal", None)
        if not isinstance(principal, Principal):
            verifier: TokenVerifier = request.app.state.token_verifier
            principal = verifier.verify(bearer_token(credentials))
        if not principal.roles & set(allowed):
            raise HTTPException(
                status_code=403, detail=f"This needs one of the roles: {', '.join(allowed)}."
            )
        return principal

    return dependency


async def staff_token(app: Any, credential: str) -> Principal:
    """The request guard's check of a staff or service token (``Authenticate``)."""
    verifier: TokenVerifier | None = getattr(app.state, "token_verifier", None)
    if verifier is None:
        raise Unauthenticated("invalid", "This service accepts no bearer tokens.")
    try:
        return verifier.verify(credential)
    except HTTPException as exc:
        raise Unauthenticated("invalid", str(exc.detail)) from None


def hash_api_key(key: str) -> str:
    """Provider keys are long random strings, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(key.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


ALL_ROLES = (*sorted(STAFF_ROLES), SERVICE_ROLE)


def allow(table: dict[str, frozenset[str]], operation: str) -> Any:
    """The FastAPI dependency for ``operation`` ("METHOD /path") in an authorisation table:
    every endpoint is in its service's table, and the table is tested cell by cell."""
    return Depends(require_roles(*sorted(table[operation])))
