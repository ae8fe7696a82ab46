"""The router's use cases: decide for a referral and return the decision and one work item
per dispatched route (the consumer's unit of work publishes them through the outbox, in the
transaction that records the event as handled); explain a decision without storing it;
simulate a candidate policy."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import asyncpg

from schemas import events
from schemas.calendar import england_day
from schemas.codes import Trigger
from schemas.envelope import CloudEvent
from schemas.events import ReferralFacts
from services.plumbing import outbox
from services.plumbing.db import Connection
from services.plumbing.events import outgoing
from services.plumbing.kafka import Delivered
from services.plumbing.metrics import DECISIONS, ROUTES_DISPATCHED, RULES_FIRED
from services.plumbing.unit_of_work import after_commit
from services.router.adapters import decision_log
from services.router.domain import reassessment
from services.router.domain.deadlines import deadlines
from services.router.domain.decision import Decision
from services.router.domain.disclosure import work_item_facts, work_item_flags
from services.router.domain.explanation import explain
from services.router.domain.policy.book import PolicyBook
from services.router.domain.policy.engine import CompiledPolicy
from services.router.domain.reassessment import ADJUSTMENT_TRIGGERS, CONSENT_TRIGGERS, Plan
from services.router.domain.simulation import Referral, simulate

SOURCE = "router"
RECEIVED_CONSUMER = "router.received"
REASSESS_CONSUMER_GROUP = "router.reassess"
"""One consumer name for both input topics: an event id is handled once, whatever its topic."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Router:
    pool: asyncpg.Pool
    policies: PolicyBook
    clock: Callable[[], datetime] = _utc_now
    """When decisions are made: the policy in force is the one effective on that day in
    England (a new version takes over at midnight, London time)."""
    reload: Callable[[], object] = lambda: None
    """Re-reads the policy directory when it changed (``PolicyLibrary.refresh``), so that a
    version written while the router runs is used without a restart."""

    def policy_for(self, at: datetime, version: str | None = None) -> CompiledPolicy:
        """A named version, or the one in force on ``at``'s day in England."""
        self.reload()
        if version:
            return self.policies.get(version)
        return self.policies.in_force(england_day(at))

    def policy_now(self, version: str | None = None) -> CompiledPolicy:
        return self.policy_for(self.clock(), version)


def _plan_for_new_referral(decision: Decision) -> Plan:
    return Plan.of_decision(decision, Trigger.RECEIVED, dispatch=decision.routes)


def _events_for(
    facts: ReferralFacts,
    plan: Plan,
    decided_at: datetime,
    decision_id: uuid.UUID,
    trigger_event_id: uuid.UUID,
    code_deadline: datetime | None = None,
) -> list[outbox.OutgoingEvent]:
    """The decision event, a work item for every route dispatched, and a cancellation on
    the queue of every route ended. ``code_deadline`` keeps the Victims' Code clock of a
    re-routed referral where it was."""
    routes = _routes_dispatched(facts, plan, decided_at, code_deadline)
    routed = _decision_event(facts, plan, decided_at, decision_id, trigger_event_id, routes)
    produced = (
        [routed]
        + [_work_item(facts, plan, decision_id, route) for route in routes]
        + [
            events.WorkItemCancelled(
                route_id=ended.route_id,
                referral_id=facts.referral_id,
                service=ended.service,
                reason=why,
            )
            for ended, why in plan.cancel
        ]
    )
    return [outgoing(event, source=SOURCE, referral_id=facts.referral_id) for event in produced]


def _routes_dispatched(
    facts: ReferralFacts, plan: Plan, decided_at: datetime, code_deadline: datetime | None
) -> list[events.Route]:
    """Each route the plan dispatches, with its clocks (from the crime's report, or the
    referral's arrival when it has none)."""
    clock_start = facts.reported_at or facts.received_at
    routes = []
    for choice in plan.dispatch:
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
                code_deadline=code_deadline or due.code_deadline,
                second_acknowledge_by=due.second_acknowledge_by,
            )
        )
    return routes


def _decision_event(
    facts: ReferralFacts,
    plan: Plan,
    decided_at: datetime,
    decision_id: uuid.UUID,
    trigger_event_id: uuid.UUID,
    routes: list[events.Route],
) -> events.ReferralRouted:
    return events.ReferralRouted(
        referral_id=facts.referral_id,
        decision_id=decision_id,
        decided_at=decided_at,
        policy_version=plan.policy_version,
        status=plan.status,
        reason=plan.no_service_reason,
        enhanced_rights=plan.enhanced_rights,
        da_risk=plan.da_risk,
        flags=list(plan.flags),
        routes=routes,
        held_routes=[
            events.HeldRoute(
                service=h.service,
                sub_service=h.sub_service,
                priority=h.priority,
                rule_ids=list(h.rule_ids),
                reason=h.reason,
            )
            for h in plan.held
        ],
        trigger=plan.trigger,
        request_id=plan.request_id,
        trigger_event_id=trigger_event_id,
        rule_ids=list(plan.rule_ids),
        kept_route_ids=list(plan.keep),
        cancelled_routes=[
            events.CancelledRoute(route_id=r.route_id, service=r.service, reason=why)
            for r, why in plan.cancel
        ],
    )


def _work_item(
    facts: ReferralFacts, plan: Plan, decision_id: uuid.UUID, route: events.Route
) -> events.WorkItem:
    """One dispatched route as its provider's adapter receives it: the flags and coded
    facts that service needs, nothing more."""
    return events.WorkItem(
        **route.model_dump(exclude={"second_acknowledge_by"}),
        referral_id=facts.referral_id,
        decision_id=decision_id,
        policy_version=plan.policy_version,
        flags=work_item_flags(plan.flags, route.service),
        facts=work_item_facts(facts, route.service),
    )


def _count(plan: Plan) -> None:
    DECISIONS.labels(plan.trigger, plan.status.value, plan.policy_version).inc()
    for route in plan.dispatch:
        ROUTES_DISPATCHED.labels(route.service.value, route.priority.value).inc()
    for rule_id in plan.rule_ids:
        RULES_FIRED.labels(rule_id).inc()


async def route_referral(
    router: Router, conn: Connection, event: CloudEvent[events.ReferralReceived]
) -> list[outbox.OutgoingEvent]:
    """Decide for a new referral: the decision is logged, and its events returned (the
    consumer's unit of work publishes them)."""
    return (await _route(router, conn, [(event, nullcontext())]))[event.id]


async def route_referrals(
    router: Router, conn: Connection, batch: list[Delivered[CloudEvent[events.ReferralReceived]]]
) -> dict[uuid.UUID, list[outbox.OutgoingEvent]]:
    """``route_referral`` for several referrals, in order, in one transaction (the consumer's
    unit of work, with their inbox rows): the decisions and every event they produce commit
    together or not at all. Each referral is decided in its own trace (the one its event
    arrived with)."""
    return await _route(router, conn, [(d.event, d.traced()) for d in batch])


async def _route(
    router: Router,
    conn: Connection,
    received: list[tuple[CloudEvent[events.ReferralReceived], AbstractContextManager[object]]],
) -> dict[uuid.UUID, list[outbox.OutgoingEvent]]:
    decided_at = router.clock()
    policy = router.policy_for(decided_at)
    entries: list[decision_log.Entry] = []
    produced: dict[uuid.UUID, list[outbox.OutgoingEvent]] = {}
    for event, traced in received:
        with traced:
            facts = event.data.facts
            entry = decision_log.Entry(
                decision_id=uuid.uuid4(),
                trigger_event=event.id,
                facts=facts,
                plan=_plan_for_new_referral(policy.decide(facts)),
                decided_at=decided_at,
            )
            produced[event.id] = _events_for(
                facts, entry.plan, decided_at, entry.decision_id, event.id
            )
        entries.append(entry)
    await decision_log.record_many(conn, entries)
    for e in entries:
        after_commit(partial(_count, e.plan))
    return produced


async def reassess_referral(
    router: Router, conn: Connection, event: CloudEvent[events.ReassessmentRequested]
) -> list[outbox.OutgoingEvent]:
    """Decide again, under the policy in force, after consent changed, a provider rejected,
    a route breached its acknowledgement twice, or a supervisor changed the routes."""
    request = event.data
    decided_at = router.clock()
    policy = router.policy_for(decided_at)
    plan, code_deadline = _replan(policy, request)
    # The id intake gave the decision in advance (a resubmission's answer names it).
    decision_id = request.decision_id or uuid.uuid4()
    await decision_log.record(
        conn,
        decision_id=decision_id,
        trigger_event=event.id,
        facts=request.facts,
        plan=plan,
        decided_at=decided_at,
    )
    after_commit(partial(_count, plan))
    return _events_for(request.facts, plan, decided_at, decision_id, event.id, code_deadline)


def _replan(
    policy: CompiledPolicy, request: events.ReassessmentRequested
) -> tuple[Plan, datetime | None]:
    """The plan for a re-assessment, with the Victims' Code deadline a re-routed route keeps
    (``None``: the new routes' own)."""
    decision = policy.decide(request.facts)
    change = request.change
    if request.trigger in CONSENT_TRIGGERS:
        return reassessment.after_consent_change(request, decision), None
    if request.trigger in ADJUSTMENT_TRIGGERS and change is not None:
        adjustment = policy.adjust(
            {
                "trigger": request.trigger,
                "service": change.service.value,
                "sub_service": change.sub_service,
                "priority": change.priority.value if change.priority else None,
                "rejection_reason": change.rejection_reason.value
                if change.rejection_reason
                else None,
            },
            request.facts,
        )
        plan = reassessment.after_adjustment(request, adjustment, decision)
        keeps_deadline = request.trigger != Trigger.OVERRIDE_ADD
        return plan, change.code_deadline if keeps_deadline else None
    if request.trigger == Trigger.OVERRIDE_REMOVE and change is not None:
        return reassessment.after_removal(request, decision), None
    if request.trigger == reassessment.RESUBMISSION_TRIGGER:
        return reassessment.after_resubmission(request, decision), None
    raise ValueError(f"unknown re-assessment trigger {request.trigger!r}")


def explain_facts(router: Router, facts: ReferralFacts, version: str | None) -> dict[str, Any]:
    """The decision a version would make; nothing is stored or sent."""
    return explain(router.policy_now(version).decide(facts))


async def simulate_period(
    router: Router, *, candidate: str, first: date, last: date, baseline: str | None = None
) -> dict[str, Any]:
    """Referrals received from ``first`` to ``last``, decided under ``baseline`` and under
    ``candidate``. Unless named, the baseline is the version in force now, or, for a candidate
    already in force, the version it took over from. Nothing is published or changed."""
    router.reload()
    candidate_policy = router.policies.get(candidate)
    baseline_policy = (
        router.policies.get(baseline)
        if baseline
        else router.policies.replaced_by(candidate_policy, england_day(router.clock()))
    )
    async with router.pool.acquire() as conn:
        referrals = [
            Referral(facts.referral_id, facts)
            async for facts in decision_log.facts_received_between(conn, first, last)
        ]
    report = simulate(referrals, baseline_policy, candidate_policy)
    report.update({"from": first.isoformat(), "to": last.isoformat()})
    return report
