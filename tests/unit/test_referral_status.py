from __future__ import annotations

from schemas.codes import ReferralStatus, RouteStatus
from services.referral_intake.domain.lifecycle import referral_status


def test_undecided_referral_is_received() -> None:
    assert referral_status(None, [], False) is ReferralStatus.RECEIVED


def test_routed_referral_closes_when_every_route_has_ended() -> None:
    routed = ReferralStatus.ROUTED
    assert referral_status(routed, [RouteStatus.COMPLETED, RouteStatus.ACCEPTED], False) is routed
    ended = [RouteStatus.COMPLETED, RouteStatus.REJECTED]
    assert referral_status(routed, ended, False) is ReferralStatus.CLOSED


def test_held_routes_keep_a_referral_open() -> None:
    awaiting = ReferralStatus.AWAITING_CONSENT
    assert referral_status(awaiting, [RouteStatus.COMPLETED], True) is awaiting


def test_no_service_stays_no_service() -> None:
    assert referral_status(ReferralStatus.NO_SERVICE, [], False) is ReferralStatus.NO_SERVICE


def test_a_referral_whose_routes_were_all_cancelled_is_closed() -> None:
    cancelled = [RouteStatus.CANCELLED, RouteStatus.REJECTED]
    assert referral_status(ReferralStatus.NO_SERVICE, cancelled, False) is ReferralStatus.CLOSED
