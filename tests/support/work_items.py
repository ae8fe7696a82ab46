"""Synthetic work items for tests: as the router would publish one (an urgent high-risk
IDVA-style route requested now, with the policy's usual clocks: acknowledge in 4 hours, first
contact in 24, the Victims' Code deadline in 2 days), or written straight into a provider
adapter's database, for tests of what the adapter does with them (its queue's pages, its
webhook deliveries) without the router."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas import events
from schemas.codes import ConsentBasis, Priority, Service
from services.plumbing.db import Connection


def work_item(service: Service) -> events.WorkItem:
    now = datetime.now(UTC)
    return events.WorkItem(
        route_id=uuid.uuid4(),
        referral_id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
        policy_version="2026-11-01.1",
        service=service,
        sub_service="core",
        priority=Priority.URGENT,
        rule_ids=["R-IDVA-HIGH-RISK"],
        reason="test",
        consent_basis=ConsentBasis.EXPLICIT_CONSENT,
        requested_at=now,
        acknowledge_by=now + timedelta(hours=4),
        contact_due_by=now + timedelta(hours=24),
        code_deadline=now + timedelta(days=2),
    )


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
