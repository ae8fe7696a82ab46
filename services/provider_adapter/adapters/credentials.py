"""The portal's secrets, by well-kept libraries: argon2id password hashes (``argon2-cffi``,
RFC 9106's parameters), TOTP codes (``pyotp``, RFC 6238: 6 digits, 30 seconds, a step either
side allowed for clock drift), random tokens stored only as SHA-256, and TOTP secrets sealed
at rest with AES-256-GCM under a key derived from ``PORTAL_SECRET_KEY``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import uuid

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_hasher = PasswordHasher()
# A hash to verify against when there is no such account, so that an unknown username costs
# the same time as a wrong password and the answer's timing tells nobody which it was.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

TOTP_DIGITS = 6
TOTP_INTERVAL = 30
TOTP_DRIFT_STEPS = 1


async def hash_password(password: str) -> str:
    """argon2id; tens of milliseconds of CPU and 64 MiB, so off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def new_token() -> str:
    """A random token for a cookie or an invitation link (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a token: a stolen table cannot be replayed as cookies."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (within the drift allowed), or None if it is wrong."""
    code = code.replace(" ", "").replace("-", "")
    if not (code.isdigit() and len(code) == TOTP_DIGITS):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)
    at = time.time() if now is None else now
    current = int(at // TOTP_INTERVAL)
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if secrets.compare_digest(totp.at(step * TOTP_INTERVAL), code):
            return step
    return None


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL).provisioning_uri(
        name=username, issuer_name=issuer
    )


class Sealer:
    """AES-256-GCM for the TOTP secrets, the account id bound in as associated data (a sealed
    secret copied onto another account does not open)."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal totp secrets v1"
        ).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def seal(self, account_id: uuid.UUID, secret: str) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, self._aead.encrypt(nonce, secret.encode(), account_id.bytes)

    def open(self, account_id: uuid.UUID, nonce: bytes, sealed: bytes) -> str:
        return self._aead.decrypt(nonce, sealed, account_id.bytes).decode()
