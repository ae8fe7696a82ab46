"""The router's use cases: decide for a referral and publish the decision and one work item
per dispatched route (through the outbox, in the transaction that records the event as
handled); explain a decision without storing it; simulate a candidate policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from schemas import events, topics
from schemas.envelope import CloudEvent
from schemas.events import ReferralFacts
from services.plumbing import inbox, outbox
from services.plumbing.events import outgoing
from services.router.adapters import decision_log
from services.router.domain.clocks import LONDON
from services.router.domain.deadlines import deadlines
from services.router.domain.decision import Decision
from services.router.domain.disclosure import work_item_facts
from services.router.domain.explanation import explain
from services.router.domain.policy.book import PolicyBook
from services.router.domain.policy.engine import CompiledPolicy
from services.router.domain.simulation import Referral, simulate

SOURCE = "router"
RECEIVED_CONSUMER = "router.received"


@dataclass(frozen=True)
class Router:
    pool: asyncpg.Pool
    policies: PolicyBook

    def policy_for(self, at: datetime, version: str | None = None) -> CompiledPolicy:
        """A named version, or the one in force on ``at``'s day in England."""
        if version:
            return self.policies.get(version)
        return self.policies.in_force(at.astimezone(LONDON).date())


def _routed_events(
    facts: ReferralFacts, decision: Decision, decided_at: datetime, decision_id: uuid.UUID
) -> list[outbox.OutgoingEvent]:
    clock_start = facts.reported_at or facts.received_at
    routes = []
    for choice in decision.routes:
        due = deadlines(choice, clock_start=clock_start, requested_at=decided_at)
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
    produced = [
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
        produced.append(
            outgoing(
                topic=topics.queue_for(route.service),
                type_=events.WORK_ITEM,
                source=SOURCE,
                referral_id=facts.referral_id,
                data=item,
            )
        )
    return produced


async def route_referral(router: Router, event: CloudEvent[events.ReferralReceived]) -> None:
    facts = event.data.facts
    decided_at = datetime.now(UTC)
    decision = router.policy_for(decided_at).decide(facts)
    decision_id = uuid.uuid4()
    produced = _routed_events(facts, decision, decided_at, decision_id)
    async with router.pool.acquire() as conn, conn.transaction():
        if not await inbox.first_time(conn, RECEIVED_CONSUMER, event.id, topics.REFERRAL_RECEIVED):
            return
        await decision_log.record(
            conn,
            decision_id=decision_id,
            trigger_event=event.id,
            facts=facts,
            decision=decision,
            decided_at=decided_at,
        )
        await outbox.add(conn, produced)


def explain_facts(router: Router, facts: ReferralFacts, version: str | None) -> dict[str, Any]:
    """The decision a version would make; nothing is stored or sent."""
    return explain(router.policy_for(datetime.now(UTC), version).decide(facts))


async def simulate_period(
    router: Router, *, candidate: str, first: date, last: date, baseline: str | None = None
) -> dict[str, Any]:
    """Referrals received from ``first`` to ``last``, decided under ``baseline`` (the version
    in force now, unless named) and under ``candidate``. Nothing is published or changed."""
    baseline_policy = router.policy_for(datetime.now(UTC), baseline)
    candidate_policy = router.policies.get(candidate)
    async with router.pool.acquire() as conn:
        referrals = [
            Referral(facts.referral_id, facts)
            async for facts in decision_log.facts_received_between(conn, first, last)
        ]
    report = simulate(referrals, baseline_policy, candidate_policy)
    report.update({"from": first.isoformat(), "to": last.isoformat()})
    return report
