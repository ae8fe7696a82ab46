"""Work items written straight into a provider adapter's database, for tests of what the
adapter does with them (its queue's pages, its webhook deliveries) without the router."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.plumbing.db import Connection


async def insert_work_item(
    conn: Connection,
    service: str,
    requested_at: datetime,
    *,
    route_id: uuid.UUID | None = None,
    referral_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A ``requested`` standard-priority work item; returns its route and referral ids."""
    route_id, referral_id = route_id or uuid.uuid4(), referral_id or uuid.uuid4()
    await conn.execute(
        """INSERT INTO work_items (route_id, referral_id, decision_id, policy_version,
               service, sub_service, priority, priority_rank, status, rule_ids, reason,
               consent_basis, flags, facts, requested_at, acknowledge_by, contact_due_by,
               code_deadline)
           VALUES ($1, $2, $3, 'p', $4, 'core', 'standard', 2, 'requested', '{}', 'r',
                   'explicit_consent', '{}', '{}'::jsonb, $5, $5, $5, $5)""",
        route_id,
        referral_id,
        uuid.uuid4(),
        service,
        requested_at,
    )
    return route_id, referral_id
