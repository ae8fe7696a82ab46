"""Provider keys: checking one, and letting a provider roll to a new one without downtime."""

from __future__ import annotations

import uuid
from typing import Any

from schemas.refusals import NotFound, Refused
from services.plumbing.auth import hash_api_key
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.domain import keys
from services.provider_adapter.handlers.common import Adapter


async def key_is_active(adapter: Adapter, key: str) -> bool:
    async with adapter.pool.acquire() as conn:
        return await repo.touch_key(conn, hash_api_key(key))


def _view(row: Any) -> dict[str, Any]:
    return {
        "key_id": str(row["key_id"]),
        "prefix": row["key_prefix"],
        "label": row["label"],
        "created_at": row["created_at"].isoformat(),
        "last_used_at": row["last_used_at"].isoformat() if row.get("last_used_at") else None,
    }


async def list_keys(adapter: Adapter) -> dict[str, Any]:
    async with adapter.pool.acquire() as conn:
        return {"keys": [_view(dict(r)) for r in await repo.active_keys(conn)]}


async def add_key(adapter: Adapter, label: str) -> dict[str, Any]:
    """A new key, shown once; the old one keeps working until the provider retires it."""
    key = keys.new_key(adapter.service.value)
    async with adapter.pool.acquire() as conn, conn.transaction():
        await repo.lock_keys(conn)
        try:
            keys.check_can_add(len(await repo.active_keys(conn)))
        except keys.KeyRuleBroken as exc:
            raise Refused(exc.sentence) from None
        row = await repo.add_key(conn, hash_api_key(key), keys.prefix(key), label)
    return {**_view({**dict(row), "last_used_at": None}), "key": key}


async def retire_key(adapter: Adapter, key_id: uuid.UUID) -> None:
    async with adapter.pool.acquire() as conn, conn.transaction():
        await repo.lock_keys(conn)
        active = await repo.active_keys(conn)
        if key_id not in {r["key_id"] for r in active}:
            raise NotFound("No active key with that id.")
        try:
            keys.check_can_retire(len(active))
        except keys.KeyRuleBroken as exc:
            raise Refused(exc.sentence) from None
        await repo.revoke_key(conn, key_id)
