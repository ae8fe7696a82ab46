"""Intake's event subscriptions: the router's decisions and the adapters' status reports."""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing.events import by_event
from services.plumbing.kafka import subscribe
from services.plumbing.settings import ServiceSettings
from services.plumbing.unit_of_work import Apply, UnitOfWork
from services.referral_intake.handlers import common, decisions

MAX_BATCH = 100
"""Decisions (or status reports) projected in one transaction, at most: as many as have
arrived. One transaction and one offset commit each made the projections fall minutes
behind while intake was busy taking referrals."""


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    subscribe(
        broker,
        topic=events.ReferralRouted.TOPIC,
        group_id=common.ROUTED_CONSUMER,
        handlers=by_event(
            {
                events.ReferralRouted: Apply(
                    CloudEvent[events.ReferralRouted],
                    decisions.record_decision,
                    handle_batch=decisions.record_decisions,
                )
            }
        ),
        settings=settings,
        max_batch=MAX_BATCH,
        unit_of_work=UnitOfWork(pool, common.ROUTED_CONSUMER),
    )
    subscribe(
        broker,
        topic=events.RouteStatusChanged.TOPIC,
        group_id=common.STATUS_CONSUMER,
        handlers=by_event(
            {
                events.RouteStatusChanged: Apply(
                    CloudEvent[events.RouteStatusChanged],
                    decisions.record_route_status,
                    handle_batch=decisions.record_route_statuses,
                )
            }
        ),
        settings=settings,
        max_batch=MAX_BATCH,
        unit_of_work=UnitOfWork(pool, common.STATUS_CONSUMER),
    )
