"""People's accounts in the provider portal: signing in with a password and a TOTP code,
sessions that time out, invitations an administrator hands out, removing people. Each
person is one account; what they do on a work item names them (``Person``).

Rules are in ``domain/accounts.py``; secrets by well-kept libraries in
``adapters/credentials.py``."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import asyncpg

from schemas.refusals import NotFound, Refused
from services.plumbing.db import Connection
from services.provider_adapter.adapters import accounts as repo
from services.provider_adapter.adapters import credentials
from services.provider_adapter.adapters.intake_client import Person, VaultUnreachable
from services.provider_adapter.domain.accounts import (
    AccountState,
    LockoutPolicy,
    Role,
    SessionState,
    actor_id,
    after_failure,
    code_is_fresh,
    is_locked,
    session_state,
)
from services.provider_adapter.handlers.common import Adapter

log = logging.getLogger(__name__)

SECOND_FACTOR_MINUTES = 5
"""How long the step between the password and the code may take."""


class SignInFailed(Exception):
    """Wrong username, password or code: the page says which field, never which was wrong
    of a username and a password."""


class Locked(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__("locked")
        self.until = until


class SessionEnded(Exception):
    def __init__(self, why: SessionState | None) -> None:
        super().__init__(str(why))
        self.why = why


@dataclass(frozen=True)
class SignedIn:
    """The person behind a live session."""

    account_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    session_hash: str
    actor: str

    @property
    def person(self) -> Person:
        return Person(actor=self.actor, name=self.display_name)

    @property
    def is_administrator(self) -> bool:
        return self.role is Role.ADMINISTRATOR


@dataclass(frozen=True)
class Enrolment:
    """What a new person needs to set up their authenticator app."""

    display_name: str
    username: str
    secret: str
    uri: str


@cache
def _sealer(secret_key: str) -> credentials.Sealer:
    return credentials.Sealer(secret_key)


def sealer(adapter: Adapter) -> credentials.Sealer:
    return _sealer(adapter.settings.portal_secret_key.get_secret_value())


def _lockout(adapter: Adapter) -> LockoutPolicy:
    s = adapter.settings
    return LockoutPolicy(s.portal_lockout_attempts, timedelta(minutes=s.portal_lockout_minutes))


def issuer(adapter: Adapter) -> str:
    """The name the authenticator app shows beside the code."""
    return f"Referral hub {adapter.service.value}"


async def _fail(
    conn: Connection, adapter: Adapter, account: asyncpg.Record, now: datetime
) -> Exception:
    """Counts one more failure; returns what to raise once the transaction has committed
    (raising inside it would roll the count back): ``Locked`` when this one locks."""
    failed, locked_until = after_failure(account["failed_attempts"], now, _lockout(adapter))
    await repo.record_failure(conn, account["account_id"], failed, locked_until)
    if locked_until is None:
        return SignInFailed()
    await repo.add_event(conn, account["account_id"], "locked")
    log.warning("portal account locked after repeated failures")
    return Locked(locked_until)


# ---- signing in -------------------------------------------------------------------------------
async def check_password(adapter: Adapter, username: str, password: str) -> str:
    """The first step: a token for the short session that waits for the code. Raises
    ``SignInFailed`` or ``Locked``."""
    now = datetime.now(UTC)
    failure: Exception | None = None
    token = credentials.new_token()
    async with adapter.pool.acquire() as conn, conn.transaction():
        account = await repo.by_username(conn, username)
        if account is not None and is_locked(account["locked_until"], now):
            failure = Locked(account["locked_until"])
        else:
            usable = account is not None and account["state"] == AccountState.ACTIVE.value
            right = await credentials.verify_password(
                account["password_hash"] if account is not None and usable else None, password
            )
            if account is None or not usable:
                failure = SignInFailed()
            elif not right:
                failure = await _fail(conn, adapter, account, now)
            else:
                await repo.add_session(
                    conn,
                    credentials.token_hash(token),
                    account["account_id"],
                    "second_factor",
                    now + timedelta(minutes=SECOND_FACTOR_MINUTES),
                )
    if failure is not None:
        raise failure
    return token


async def check_code(adapter: Adapter, pending_token: str, code: str) -> tuple[str, SignedIn]:
    """The second step: the code from the person's authenticator. The waiting session ends
    and a new one (a new id: no session fixation) begins. Raises ``SessionEnded`` (start
    again), ``SignInFailed`` or ``Locked``."""
    now = datetime.now(UTC)
    pending_hash = credentials.token_hash(pending_token)
    token = credentials.new_token()
    session_hash = credentials.token_hash(token)
    failure: Exception | None = None
    async with adapter.pool.acquire() as conn, conn.transaction():
        pending = await repo.session(conn, pending_hash)
        if pending is None or pending["stage"] != "second_factor" or now >= pending["expires_at"]:
            raise SessionEnded(SessionState.EXPIRED)
        account = await repo.by_id(conn, pending["account_id"], lock=True)
        assert account is not None
        step = None
        if account["state"] != AccountState.ACTIVE.value:
            await repo.end_session(conn, pending_hash)
            failure = SessionEnded(None)
        elif is_locked(account["locked_until"], now):
            await repo.end_session(conn, pending_hash)
            failure = Locked(account["locked_until"])
        else:
            secret = sealer(adapter).open(
                account["account_id"], account["totp_nonce"], account["totp_sealed"]
            )
            step = credentials.totp_step(secret, code)
            if step is None or not code_is_fresh(step, account["totp_last_step"]):
                failure = await _fail(conn, adapter, account, now)
                if isinstance(failure, Locked):
                    await repo.end_session(conn, pending_hash)
        if failure is None and step is not None:
            await repo.end_session(conn, pending_hash)
            await repo.end_stale_sessions(conn, adapter.settings.portal_idle_minutes * 60)
            await repo.add_session(
                conn,
                session_hash,
                account["account_id"],
                "signed_in",
                now + timedelta(hours=adapter.settings.portal_session_hours),
            )
            await repo.signed_in(conn, account["account_id"], step, now)
            await repo.add_event(conn, account["account_id"], "signed_in")
    if failure is not None:
        raise failure
    person = _signed_in(adapter, account, session_hash)
    await _tell_intake(adapter, person.person)
    return token, person


def _signed_in(adapter: Adapter, account: asyncpg.Record, session_hash: str) -> SignedIn:
    return SignedIn(
        account_id=account["account_id"],
        username=account["username"],
        display_name=account["display_name"],
        role=Role(account["role"]),
        session_hash=session_hash,
        actor=actor_id(adapter.service, account["account_id"]),
    )


async def _tell_intake(adapter: Adapter, person: Person) -> None:
    """Intake's timeline names the person from what it was told here; if intake cannot be
    reached now, the next sign-in or disclosure tells it (the coded actor is logged anyway)."""
    try:
        await adapter.vault.register_person(person)
    except VaultUnreachable:
        log.warning("intake did not take a portal person's name; it will be sent again")


async def pending_session_is_live(adapter: Adapter, pending_token: str) -> bool:
    async with adapter.pool.acquire() as conn:
        pending = await repo.session(conn, credentials.token_hash(pending_token))
    return (
        pending is not None
        and pending["stage"] == "second_factor"
        and datetime.now(UTC) < pending["expires_at"]
    )


async def current(adapter: Adapter, token: str) -> SignedIn:
    """The person behind a session cookie, the session's idle clock restarted; raises
    ``SessionEnded`` (with why: idle or expired) when there is none to continue."""
    now = datetime.now(UTC)
    session_hash = credentials.token_hash(token)
    async with adapter.pool.acquire() as conn:
        row = await repo.session(conn, session_hash)
        if row is None or row["stage"] != "signed_in" or row["state"] != "active":
            raise SessionEnded(None)
        state = session_state(
            last_seen_at=row["last_seen_at"],
            expires_at=row["expires_at"],
            now=now,
            idle=timedelta(minutes=adapter.settings.portal_idle_minutes),
        )
        if state is not SessionState.LIVE:
            await repo.end_session(conn, session_hash)
            raise SessionEnded(state)
        await repo.touch_session(conn, session_hash, now)
    return _signed_in(adapter, row, session_hash)


async def sign_out(adapter: Adapter, token: str) -> None:
    session_hash = credentials.token_hash(token)
    async with adapter.pool.acquire() as conn, conn.transaction():
        row = await repo.session(conn, session_hash)
        await repo.end_session(conn, session_hash)
        if row is not None and row["stage"] == "signed_in":
            await repo.add_event(conn, row["account_id"], "signed_out")


# ---- people (administrators) ------------------------------------------------------------------
async def people(adapter: Adapter) -> list[asyncpg.Record]:
    async with adapter.pool.acquire() as conn:
        return await repo.everyone(conn)


async def person(adapter: Adapter, account_id: uuid.UUID) -> asyncpg.Record:
    async with adapter.pool.acquire() as conn:
        row = await repo.by_id(conn, account_id)
    if row is None:
        raise NotFound
    return row


async def names(adapter: Adapter, actors: list[str]) -> dict[str, str]:
    """Display names for coded actors of this provider (others are left out)."""
    ids = {}
    for actor in actors:
        service, _, account = actor.partition(":caseworker:")
        if service == adapter.service.value:
            try:
                ids[uuid.UUID(account)] = actor
            except ValueError:
                continue
    async with adapter.pool.acquire() as conn:
        found = await repo.names(conn, list(ids))
    return {ids[account_id]: name for account_id, name in found.items()}


def _expiry(adapter: Adapter, now: datetime) -> datetime:
    return now + timedelta(hours=adapter.settings.portal_invitation_hours)


async def invite(
    adapter: Adapter,
    by: uuid.UUID | None,
    *,
    username: str,
    display_name: str,
    role: Role,
) -> tuple[uuid.UUID, str, datetime]:
    """A new account, waiting for its person to accept the invitation: its id, the one-time
    token for the link and when the link stops working. ``Refused`` when the username is
    taken (by anyone, removed people included: a username names one person for good)."""
    now = datetime.now(UTC)
    token = credentials.new_token()
    async with adapter.pool.acquire() as conn, conn.transaction():
        account_id = await repo.create(
            conn, username=username, display_name=display_name, role=role.value, created_by=by
        )
        if account_id is None:
            raise Refused("That username is already taken; choose another")
        expires_at = _expiry(adapter, now)
        await repo.add_invitation(conn, credentials.token_hash(token), account_id, by, expires_at)
        await repo.add_event(conn, account_id, "invited", by)
    return account_id, token, expires_at


async def invite_again(
    adapter: Adapter, by: uuid.UUID, account_id: uuid.UUID
) -> tuple[str, datetime]:
    """A new invitation for someone who lost their authenticator or password: until they
    accept it, their sessions end and they cannot sign in. Not for removed people."""
    now = datetime.now(UTC)
    token = credentials.new_token()
    async with adapter.pool.acquire() as conn, conn.transaction():
        account = await repo.by_id(conn, account_id, lock=True)
        if account is None:
            raise NotFound
        if account["state"] == AccountState.REMOVED.value:
            raise Refused("This person has been removed; invite them again as a new account")
        if account_id == by:
            raise Refused("You cannot reset your own sign-in; ask another administrator")
        await repo.reset_for_invitation(conn, account_id)
        await repo.end_sessions_of(conn, account_id)
        expires_at = _expiry(adapter, now)
        await repo.add_invitation(conn, credentials.token_hash(token), account_id, by, expires_at)
        await repo.add_event(conn, account_id, "invited_again", by)
    return token, expires_at


async def remove(adapter: Adapter, by: uuid.UUID, account_id: uuid.UUID) -> asyncpg.Record:
    """The person can no longer sign in (their sessions end now); the account stays, so that
    every log keeps naming them. The last administrator cannot be removed."""
    now = datetime.now(UTC)
    async with adapter.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('portal_accounts'))")
        account = await repo.by_id(conn, account_id, lock=True)
        if account is None or account["state"] == AccountState.REMOVED.value:
            raise NotFound
        if account_id == by:
            raise Refused("You cannot remove yourself; ask another administrator")
        if (
            account["role"] == Role.ADMINISTRATOR.value
            and account["state"] == AccountState.ACTIVE.value
            and await repo.count_active_administrators(conn) <= 1
        ):
            raise Refused("The last administrator cannot be removed")
        await repo.remove(conn, account_id, by, now)
        await repo.end_sessions_of(conn, account_id)
        await repo.add_event(conn, account_id, "removed", by)
    return account


async def open_invitation_expiry(adapter: Adapter, account_id: uuid.UUID) -> datetime | None:
    async with adapter.pool.acquire() as conn:
        row = await repo.open_invitation(conn, account_id)
    return row["expires_at"] if row else None


# ---- accepting an invitation ------------------------------------------------------------------
async def _usable_invitation(conn: Connection, token: str) -> asyncpg.Record:
    row = await repo.invitation(conn, credentials.token_hash(token))
    if (
        row is None
        or row["used_at"] is not None
        or datetime.now(UTC) >= row["expires_at"]
        or row["state"] != AccountState.INVITED.value
    ):
        raise NotFound
    return row


async def invitation(adapter: Adapter, token: str) -> asyncpg.Record:
    """The invitation behind a link, while it still works (``NotFound`` otherwise: used,
    expired, replaced by a newer one, or its person removed)."""
    async with adapter.pool.acquire() as conn, conn.transaction():
        return await _usable_invitation(conn, token)


async def choose_password(adapter: Adapter, token: str, password: str) -> None:
    """The invited person's password, and a fresh TOTP secret for them to enrol."""
    password_hash = await credentials.hash_password(password)
    async with adapter.pool.acquire() as conn, conn.transaction():
        row = await _usable_invitation(conn, token)
        nonce, sealed = sealer(adapter).seal(row["account_id"], credentials.new_totp_secret())
        await repo.set_password(conn, row["account_id"], password_hash)
        await repo.set_totp(conn, row["account_id"], nonce, sealed)


async def enrolment(adapter: Adapter, token: str) -> Enrolment:
    """The secret to put in an authenticator app, once the password is chosen (``Refused``
    before)."""
    async with adapter.pool.acquire() as conn, conn.transaction():
        row = await _usable_invitation(conn, token)
    if row["password_hash"] is None or row["totp_sealed"] is None:
        raise Refused("Choose a password first")
    secret = sealer(adapter).open(row["account_id"], row["totp_nonce"], row["totp_sealed"])
    return Enrolment(
        display_name=row["display_name"],
        username=row["username"],
        secret=secret,
        uri=credentials.provisioning_uri(secret, row["username"], issuer(adapter)),
    )


async def confirm_enrolment(adapter: Adapter, token: str, code: str) -> None:
    """A code from the newly set-up authenticator proves it works: the account is active
    and the invitation used. ``SignInFailed`` for a wrong code."""
    now = datetime.now(UTC)
    async with adapter.pool.acquire() as conn, conn.transaction():
        row = await _usable_invitation(conn, token)
        if row["totp_sealed"] is None:
            raise Refused("Choose a password first")
        secret = sealer(adapter).open(row["account_id"], row["totp_nonce"], row["totp_sealed"])
        step = credentials.totp_step(secret, code)
        if step is None:
            raise SignInFailed
        await repo.activate(conn, row["account_id"], step, now)
        await repo.use_invitation(conn, credentials.token_hash(token), now)
        await repo.add_event(conn, row["account_id"], "activated", row["account_id"])
    await _tell_intake(
        adapter,
        Person(actor=actor_id(adapter.service, row["account_id"]), name=row["display_name"]),
    )


# ---- the first administrator ------------------------------------------------------------------
async def first_administrator(
    adapter: Adapter, *, username: str, display_name: str
) -> tuple[str, datetime]:
    """An invitation for a provider's first administrator (``python -m
    services.provider_adapter invite-administrator``): the token for the link. ``Refused``
    when the username is taken."""
    _, token, expires_at = await invite(
        adapter, None, username=username, display_name=display_name, role=Role.ADMINISTRATOR
    )
    return token, expires_at


async def ensure_demo_administrator(
    conn: Connection,
    secret_key: str,
    *,
    username: str,
    display_name: str,
    password: str,
    totp_secret: str,
) -> None:
    """The local stack's administrator, signed in with what ``make run`` prints: created,
    or put back to those credentials (unlocked, active) on every start. Never in production:
    the local stack alone calls it."""
    account_id = await conn.fetchval(
        "SELECT account_id FROM portal_accounts WHERE username = $1", username
    )
    account_id = account_id or uuid.uuid4()
    nonce, sealed = _sealer(secret_key).seal(account_id, totp_secret)
    await repo.upsert_active(
        conn,
        username=username,
        display_name=display_name,
        role=Role.ADMINISTRATOR.value,
        password_hash=await credentials.hash_password(password),
        nonce=nonce,
        sealed_for=account_id,
        sealed=sealed,
    )
