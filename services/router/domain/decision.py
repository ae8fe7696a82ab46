"""What the policy decides for one referral, before clocks and ids are attached."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.codes import ConsentBasis, NoServiceReason, Priority, ReferralStatus, Service


@dataclass(frozen=True)
class RouteChoice:
    service: Service
    sub_service: str
    priority: Priority
    rule_ids: tuple[str, ...]
    reason: str
    consent_basis: ConsentBasis


@dataclass(frozen=True)
class Decision:
    policy_version: str
    status: ReferralStatus
    reason: NoServiceReason | None
    enhanced_rights: bool
    da_risk: str | None
    flags: tuple[str, ...] = ()
    routes: tuple[RouteChoice, ...] = ()
    held_routes: tuple[RouteChoice, ...] = field(default_factory=tuple)
