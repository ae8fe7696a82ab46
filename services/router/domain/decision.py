"""What the policy decides for one referral, before ids and deadlines are attached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.codes import ConsentBasis, NoServiceReason, Priority, ReferralStatus, Service

ClockUnit = Literal["hours", "working_days"]


@dataclass(frozen=True)
class Clock:
    unit: ClockUnit
    amount: float


@dataclass(frozen=True)
class RouteChoice:
    service: Service
    sub_service: str
    priority: Priority
    rule_ids: tuple[str, ...]
    reason: str
    consent_basis: ConsentBasis | None
    """None for a held route: consent has not been given yet."""
    acknowledge: Clock
    contact: Clock
    code: Clock


@dataclass(frozen=True)
class Decision:
    policy_version: str
    status: ReferralStatus
    reason: NoServiceReason | None
    enhanced_rights: bool
    da_risk: str | None
    flags: tuple[str, ...]
    routes: tuple[RouteChoice, ...]
    held_routes: tuple[RouteChoice, ...]
    rule_ids: tuple[str, ...]
    """Every rule that fired, for the decision log and the metrics."""


@dataclass(frozen=True)
class Adjustment:
    """What the policy decides about a change after routing (a rejection, a second
    acknowledgement breach, a supervisor's added route)."""

    policy_version: str
    rule_id: str
    reason: str
    route: RouteChoice | None
    flag: str | None
