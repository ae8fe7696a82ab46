"""Credentials for the local stack: an ES256 key pair that signs staff and service tokens,
the tokens themselves, and one API key per provider. Made fresh on every start; production
uses the identity provider's keys and provider keys issued out of band."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
import pyotp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.database_roles import new_password, roles
from schemas.codes import Service
from services.plumbing.auth import SERVICE_ROLE, STAFF_ROLES, hash_api_key

ISSUER = "referral-hub-local"
AUDIENCE = "referral-hub"
TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Credentials:
    private_key_pem: str
    public_key_pem: str
    staff_tokens: dict[str, str]
    service_tokens: dict[Service, str]
    provider_keys: dict[Service, str]

    def provider_key_hash(self, service: Service) -> str:
        return hash_api_key(self.provider_keys[service])


def persistent_secrets(path: Path) -> dict[str, str]:
    """Secrets that must outlive one run because the data they protect does: the key of
    intake's identity hashes (and, later, of the vault). Made once, kept in ``path`` (0600)."""
    secrets_: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    makers: dict[str, Callable[[], str]] = {
        "identity_hash_key": lambda: secrets.token_hex(32),
        "vault_key": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        # The provider portals: the key sealing their people's TOTP secrets, and the demo
        # administrator's sign-in (kept, like the database it is stored in).
        "portal_secret_key": lambda: secrets.token_hex(32),
        "portal_admin_password": lambda: "-".join(secrets.token_urlsafe(6) for _ in range(3)),
        "portal_admin_totp_secret": pyotp.random_base32,
        # The broker's super user: its SCRAM credential is written when the log is formatted.
        "kafka_admin_password": lambda: secrets.token_urlsafe(24),
        # The embedded database's superuser, and each role of deploy/database_roles.py.
        "postgres_password": new_password,
        **{f"db_password.{role}": new_password for role in roles()},
    }
    missing = {name: make() for name, make in makers.items() if name not in secrets_}
    if missing:
        secrets_.update(missing)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(secrets_, indent=2))
        path.chmod(0o600)
    return secrets_


def mint(
    private_key_pem: str,
    subject: str,
    roles: list[str],
    *,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    seconds: int = TOKEN_LIFETIME_SECONDS,
    **claims: str,
) -> str:
    """A signed ES256 token for ``subject`` with ``roles``; ``claims`` add to or override
    the standard ones."""
    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "roles": roles,
        "iat": now,
        "exp": now + seconds,
        **claims,
    }
    return jwt.encode(payload, private_key_pem, algorithm="ES256")


def es256_key_pair() -> tuple[str, str]:
    """A fresh ES256 key pair: the private key (PKCS#8 PEM) and the public key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def generate() -> Credentials:
    private_pem, public_pem = es256_key_pair()
    return Credentials(
        private_key_pem=private_pem,
        public_key_pem=public_pem,
        staff_tokens={
            role: mint(private_pem, f"local.{role}", [role]) for role in sorted(STAFF_ROLES)
        },
        service_tokens={
            s: mint(private_pem, f"provider_adapter.{s.value}", [SERVICE_ROLE], service=s.value)
            for s in Service
        },
        provider_keys={s: f"pk_{s.value.lower()}_{secrets.token_urlsafe(32)}" for s in Service},
    )
