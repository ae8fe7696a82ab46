"""The portal's queue pages on a real database: forward with ``after``, back with
``before``, every work item exactly once and in queue order (most urgent, then oldest)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from schemas.codes import Service
from services.plumbing import migrations
from services.provider_adapter.adapters import repository as repo
from services.provider_adapter.settings import schema_for

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "provider_adapter" / "migrations"


async def _queue_of(database_url: str, n: int) -> asyncpg.Connection:
    schema = schema_for(Service.IDVA)
    await migrations.apply(database_url, schema, migrations.components(MIGRATIONS))
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    start = datetime.now(UTC) - timedelta(hours=n)
    for i in range(n):
        priority, rank = [("urgent", 0), ("high", 1), ("standard", 2)][i % 3]
        await conn.execute(
            """INSERT INTO work_items (route_id, referral_id, decision_id, policy_version,
                   service, sub_service, priority, priority_rank, status, rule_ids, reason,
                   consent_basis, flags, facts, requested_at, acknowledge_by, contact_due_by,
                   code_deadline)
               VALUES ($1, $2, $3, 'p', 'IDVA', 'core', $4, $5, 'requested', '{}', 'r',
                       'explicit_consent', '{}', '{}'::jsonb, $6, $6, $6, $6)""",
            uuid.uuid4(),
            uuid.uuid4(),
            uuid.uuid4(),
            priority,
            rank,
            start + timedelta(minutes=i),
        )
    return conn


async def test_paging_forward_then_back_visits_every_item_once_in_order(
    database_url: str,
) -> None:
    conn = await _queue_of(database_url, 23)
    try:
        everything = await repo.queue_page(conn, statuses=["requested"], after=None, limit=100)
        order = [r["route_id"] for r in everything]
        assert [r["priority_rank"] for r in everything] == sorted(
            r["priority_rank"] for r in everything
        )

        def position(row: asyncpg.Record) -> tuple[int, datetime, uuid.UUID]:
            return row["priority_rank"], row["requested_at"], row["route_id"]

        pages: list[list[uuid.UUID]] = []
        after = None
        while True:
            page = await repo.queue_page(conn, statuses=["requested"], after=after, limit=5)
            if not page:
                break
            pages.append([r["route_id"] for r in page])
            after = position(page[-1])
        assert [i for p in pages for i in p] == order
        assert [len(p) for p in pages] == [5, 5, 5, 5, 3]

        # Back from the last page, one page at a time, to the first.
        first_of_page = everything[20]
        back: list[list[uuid.UUID]] = []
        before = position(first_of_page)
        while True:
            page = await repo.queue_page(
                conn, statuses=["requested"], after=None, before=before, limit=5
            )
            if not page:
                break
            back.append([r["route_id"] for r in page])
            before = position(page[0])
        assert back == list(reversed(pages[:-1]))
    finally:
        await conn.close()
