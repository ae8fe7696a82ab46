"""The router's one use case: decide for a referral, then publish the decision and one
work item per dispatched route, through the outbox, in the transaction that records the
event as handled."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from schemas import events, topics
from schemas.envelope import CloudEvent
from services.plumbing import inbox, outbox
from services.plumbing.events import outgoing
from services.router.domain import policy
from services.router.domain.deadlines import deadlines
from services.router.domain.disclosure import work_item_facts

SOURCE = "router"
RECEIVED_CONSUMER = "router.received"


async def route_referral(pool: asyncpg.Pool, event: CloudEvent[events.ReferralReceived]) -> None:
    facts = event.data.facts
    decision = policy.decide(facts)
    decided_at = datetime.now(UTC)
    clock_start = facts.reported_at or facts.received_at
    decision_id = uuid.uuid4()
    routes = []
    for choice in decision.routes:
        due = deadlines(
            choice,
            enhanced=decision.enhanced_rights,
            clock_start=clock_start,
            requested_at=decided_at,
        )
        routes.append(
            events.Route(
                route_id=uuid.uuid4(),
                service=choice.service,
                sub_service=choice.sub_service,
                priority=choice.priority,
                rule_ids=list(choice.rule_ids),
                reason=choice.reason,
                consent_basis=choice.consent_basis,
                requested_at=decided_at,
                acknowledge_by=due.acknowledge_by,
                contact_due_by=due.contact_due_by,
                code_deadline=due.code_deadline,
            )
        )
    routed = events.ReferralRouted(
        referral_id=facts.referral_id,
        decision_id=decision_id,
        decided_at=decided_at,
        policy_version=decision.policy_version,
        status=decision.status,
        reason=decision.reason,
        enhanced_rights=decision.enhanced_rights,
        da_risk=decision.da_risk,
        flags=list(decision.flags),
        routes=routes,
        held_routes=[
            events.HeldRoute(
                service=h.service,
                sub_service=h.sub_service,
                priority=h.priority,
                rule_ids=list(h.rule_ids),
                reason=h.reason,
            )
            for h in decision.held_routes
        ],
    )
    outgoing_events = [
        outgoing(
            topic=topics.REFERRAL_ROUTED,
            type_=events.REFERRAL_ROUTED,
            source=SOURCE,
            referral_id=facts.referral_id,
            data=routed,
        )
    ]
    for route in routes:
        item = events.WorkItem(
            route_id=route.route_id,
            referral_id=facts.referral_id,
            decision_id=decision_id,
            policy_version=decision.policy_version,
            service=route.service,
            sub_service=route.sub_service,
            priority=route.priority,
            rule_ids=route.rule_ids,
            reason=route.reason,
            consent_basis=route.consent_basis,
            requested_at=route.requested_at,
            acknowledge_by=route.acknowledge_by,
            contact_due_by=route.contact_due_by,
            code_deadline=route.code_deadline,
            flags=list(decision.flags),
            facts=work_item_facts(facts, route.service),
        )
        outgoing_events.append(
            outgoing(
                topic=topics.queue_for(route.service),
                type_=events.WORK_ITEM,
                source=SOURCE,
                referral_id=facts.referral_id,
                data=item,
            )
        )
    async with pool.acquire() as conn, conn.transaction():
        if not await inbox.first_time(conn, RECEIVED_CONSUMER, event.id, topics.REFERRAL_RECEIVED):
            return
        await conn.execute(
            """INSERT INTO decisions (decision_id, referral_id, trigger_event, policy_version,
                                      decided_at, status, rule_ids)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            decision_id,
            facts.referral_id,
            event.id,
            decision.policy_version,
            decided_at,
            decision.status.value,
            sorted({rule for r in decision.routes + decision.held_routes for rule in r.rule_ids}),
        )
        await outbox.add(conn, outgoing_events)
