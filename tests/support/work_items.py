"""A synthetic work item as the router would publish it: an urgent high-risk IDVA-style route
requested now, with the policy's usual clocks (acknowledge in 4 hours, first contact in 24,
the Victims' Code deadline in 2 days)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas import events
from schemas.codes import ConsentBasis, Priority, Service


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
