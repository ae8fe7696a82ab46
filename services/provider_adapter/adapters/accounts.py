"""SQL for the portal's people: accounts, invitations, sessions and what happened to them."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.plumbing.db import Connection


async def by_username(conn: Connection, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM portal_accounts WHERE username = $1 FOR UPDATE", username
    )


async def by_id(
    conn: Connection, account_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    if lock:
        return await conn.fetchrow(
            "SELECT * FROM portal_accounts WHERE account_id = $1 FOR UPDATE", account_id
        )
    return await conn.fetchrow("SELECT * FROM portal_accounts WHERE account_id = $1", account_id)


async def create(
    conn: Connection,
    *,
    username: str,
    display_name: str,
    role: str,
    created_by: uuid.UUID | None,
) -> uuid.UUID | None:
    """The new account's id, or None when the username is taken."""
    account_id: uuid.UUID | None = await conn.fetchval(
        """INSERT INTO portal_accounts (username, display_name, role, state, created_by)
           VALUES ($1, $2, $3, 'invited', $4)
           ON CONFLICT (username) DO NOTHING RETURNING account_id""",
        username,
        display_name,
        role,
        created_by,
    )
    return account_id


async def everyone(conn: Connection) -> list[asyncpg.Record]:
    """Every account, people still here first, then by name."""
    return list(
        await conn.fetch(
            """SELECT * FROM portal_accounts
                ORDER BY state = 'removed', lower(display_name), username"""
        )
    )


async def names(conn: Connection, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await conn.fetch(
        "SELECT account_id, display_name FROM portal_accounts WHERE account_id = ANY($1::uuid[])",
        account_ids,
    )
    return {r["account_id"]: r["display_name"] for r in rows}


async def count_active_administrators(conn: Connection) -> int:
    return int(
        await conn.fetchval(
            """SELECT count(*) FROM portal_accounts
               WHERE role = 'administrator' AND state = 'active'"""
        )
    )


async def record_failure(
    conn: Connection, account_id: uuid.UUID, failed_attempts: int, locked_until: datetime | None
) -> None:
    await conn.execute(
        """UPDATE portal_accounts SET failed_attempts = $2,
               locked_until = coalesce($3, locked_until)
           WHERE account_id = $1""",
        account_id,
        failed_attempts,
        locked_until,
    )


async def clear_failures(conn: Connection, account_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE portal_accounts SET failed_attempts = 0, locked_until = NULL WHERE account_id = $1",
        account_id,
    )


async def signed_in(conn: Connection, account_id: uuid.UUID, totp_step: int, at: datetime) -> None:
    await conn.execute(
        """UPDATE portal_accounts SET failed_attempts = 0, locked_until = NULL,
               totp_last_step = $2, last_sign_in_at = $3
           WHERE account_id = $1""",
        account_id,
        totp_step,
        at,
    )


async def set_password(conn: Connection, account_id: uuid.UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE portal_accounts SET password_hash = $2 WHERE account_id = $1",
        account_id,
        password_hash,
    )


async def set_totp(
    conn: Connection, account_id: uuid.UUID, nonce: bytes | None, sealed: bytes | None
) -> None:
    await conn.execute(
        """UPDATE portal_accounts SET totp_nonce = $2, totp_sealed = $3, totp_last_step = NULL
           WHERE account_id = $1""",
        account_id,
        nonce,
        sealed,
    )


async def activate(conn: Connection, account_id: uuid.UUID, totp_step: int, at: datetime) -> None:
    await conn.execute(
        """UPDATE portal_accounts SET state = 'active', activated_at = coalesce(activated_at, $3),
               totp_last_step = $2, failed_attempts = 0, locked_until = NULL
           WHERE account_id = $1""",
        account_id,
        totp_step,
        at,
    )


async def reset_for_invitation(conn: Connection, account_id: uuid.UUID) -> None:
    """A new invitation for someone already here (lost phone, forgotten password): their
    password and authenticator stop working until they accept it."""
    await conn.execute(
        """UPDATE portal_accounts SET state = 'invited', password_hash = NULL, totp_nonce = NULL,
               totp_sealed = NULL, totp_last_step = NULL, failed_attempts = 0,
               locked_until = NULL
           WHERE account_id = $1""",
        account_id,
    )


async def remove(conn: Connection, account_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None:
    await conn.execute(
        """UPDATE portal_accounts SET state = 'removed', removed_at = $3, removed_by = $2,
               password_hash = NULL, totp_nonce = NULL, totp_sealed = NULL
           WHERE account_id = $1""",
        account_id,
        by,
        at,
    )


async def upsert_active(
    conn: Connection,
    *,
    username: str,
    display_name: str,
    role: str,
    password_hash: str,
    nonce: bytes,
    sealed_for: uuid.UUID,
    sealed: bytes,
) -> None:
    await conn.execute(
        """INSERT INTO portal_accounts (account_id, username, display_name, role, state,
               password_hash, totp_nonce, totp_sealed, activated_at)
           VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, now())
           ON CONFLICT (username) DO UPDATE SET display_name = $3, role = $4, state = 'active',
               password_hash = $5, totp_nonce = $6, totp_sealed = $7, totp_last_step = NULL,
               failed_attempts = 0, locked_until = NULL, removed_at = NULL, removed_by = NULL""",
        sealed_for,
        username,
        display_name,
        role,
        password_hash,
        nonce,
        sealed,
    )


async def add_event(
    conn: Connection, account_id: uuid.UUID, event: str, by: uuid.UUID | None = None
) -> None:
    await conn.execute(
        "INSERT INTO portal_account_events (account_id, event, by_account) VALUES ($1, $2, $3)",
        account_id,
        event,
        by,
    )


# ---- invitations ---------------------------------------------------------------------------
async def add_invitation(
    conn: Connection,
    token_hash: str,
    account_id: uuid.UUID,
    created_by: uuid.UUID | None,
    expires_at: datetime,
) -> None:
    # Only the newest invitation works: an earlier link handed out stops working.
    await conn.execute(
        """UPDATE portal_invitations SET expires_at = least(expires_at, now())
           WHERE account_id = $1 AND used_at IS NULL""",
        account_id,
    )
    await conn.execute(
        """INSERT INTO portal_invitations (token_hash, account_id, created_by, expires_at)
           VALUES ($1, $2, $3, $4)""",
        token_hash,
        account_id,
        created_by,
        expires_at,
    )


async def invitation(conn: Connection, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT i.token_hash, i.expires_at, i.used_at, a.*
            FROM portal_invitations i JOIN portal_accounts a USING (account_id)
            WHERE i.token_hash = $1 FOR UPDATE OF i, a""",
        token_hash,
    )


async def use_invitation(conn: Connection, token_hash: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE portal_invitations SET used_at = $2 WHERE token_hash = $1", token_hash, at
    )


async def open_invitation(conn: Connection, account_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT expires_at FROM portal_invitations
           WHERE account_id = $1 AND used_at IS NULL AND expires_at > now()
           ORDER BY created_at DESC LIMIT 1""",
        account_id,
    )


# ---- sessions ------------------------------------------------------------------------------
async def add_session(
    conn: Connection, session_hash: str, account_id: uuid.UUID, stage: str, expires_at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO portal_sessions (session_hash, account_id, stage, expires_at)
           VALUES ($1, $2, $3, $4)""",
        session_hash,
        account_id,
        stage,
        expires_at,
    )


async def session(conn: Connection, session_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT s.session_hash, s.stage, s.last_seen_at, s.expires_at, a.*
            FROM portal_sessions s JOIN portal_accounts a USING (account_id)
            WHERE s.session_hash = $1""",
        session_hash,
    )


async def touch_session(conn: Connection, session_hash: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE portal_sessions SET last_seen_at = $2 WHERE session_hash = $1",
        session_hash,
        at,
    )


async def end_session(conn: Connection, session_hash: str) -> None:
    await conn.execute("DELETE FROM portal_sessions WHERE session_hash = $1", session_hash)


async def end_sessions_of(conn: Connection, account_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM portal_sessions WHERE account_id = $1", account_id)


async def end_stale_sessions(conn: Connection, idle_seconds: float) -> None:
    """Sessions past their lifetime or idle time-out are of no use to anyone: gone."""
    await conn.execute(
        """DELETE FROM portal_sessions
           WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => $1)""",
        idle_seconds,
    )
