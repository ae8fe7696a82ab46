"""The provider portals on the local stack: their assets built if missing, each adapter's
portal settings, and a first administrator per portal for the demo, signed in with what
``make run`` prints (and writes to ``.dev/stack.json``)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pyotp

from schemas.codes import Service
from services.provider_adapter.entrypoints.portal.web import ASSETS, BUILD
from services.provider_adapter.handlers.accounts import ensure_demo_administrator
from services.provider_adapter.settings import schema_for

ADMIN_USERNAME = "admin"
ADMIN_NAME = "Demo Administrator"
PATH = "/portal/"


def ensure_assets(project_root: Path, say: Any) -> None:
    """``make portal-assets`` (npm ci from the lock, then npm run build) when the built files
    are missing, as the first ``make run`` builds .venv."""
    if all((BUILD / name).is_file() for name in ASSETS):
        return
    say("Building the provider portals' assets (npm ci, npm run build) ...")
    subprocess.run(["make", "--no-print-directory", "portal-assets"], cwd=project_root, check=True)


def adapter_env(secrets_: dict[str, str]) -> dict[str, str]:
    return {
        "PORTAL_SECRET_KEY": secrets_["portal_secret_key"],
        # The local stack serves http://127.0.0.1: its cookies cannot require HTTPS.
        "PORTAL_COOKIE_SECURE": "false",
    }


def ensure_administrators(database_url: str, secrets_: dict[str, str]) -> None:
    """Each portal's demo administrator exists, active, with the printed credentials."""

    async def ensure() -> None:
        for service in Service:
            conn = await asyncpg.connect(
                database_url, server_settings={"search_path": schema_for(service)}
            )
            try:
                await ensure_demo_administrator(
                    conn,
                    secrets_["portal_secret_key"],
                    username=ADMIN_USERNAME,
                    display_name=ADMIN_NAME,
                    password=secrets_["portal_admin_password"],
                    totp_secret=secrets_["portal_admin_totp_secret"],
                )
            finally:
                await conn.close()

    asyncio.run(ensure())


def administrator(secrets_: dict[str, str]) -> dict[str, str]:
    secret = secrets_["portal_admin_totp_secret"]
    return {
        "username": ADMIN_USERNAME,
        "name": ADMIN_NAME,
        "password": secrets_["portal_admin_password"],
        "totp_secret": secret,
        "otpauth_uri": pyotp.TOTP(secret).provisioning_uri(
            name=ADMIN_USERNAME, issuer_name="Referral hub (local)"
        ),
    }


def summary(urls: dict[str, str], admin: dict[str, str]) -> list[str]:
    lines = [f"  provider portal {s:<6} {url}" for s, url in urls.items()]
    lines += [
        f"  portal administrator username {admin['username']}  password {admin['password']}",
        "                       (the same in every portal) second factor: `make totp` prints",
        f"                       the current code, or add {admin['otpauth_uri']}",
        "                       to an authenticator app",
    ]
    return lines
