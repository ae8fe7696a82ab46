"""Who may do what at intake: one row per endpoint. The commissioner sees reports,
explanations and simulations, never a referral or anyone's personal data."""

from __future__ import annotations

from services.plumbing.auth import SERVICE_ROLE

TRIAGE = frozenset({"triage", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
EVERY_STAFF_ROLE = frozenset({"triage", "supervisor", "commissioner"})
COMMISSIONING = frozenset({"commissioner", "supervisor"})
ADAPTERS = frozenset({SERVICE_ROLE})

ACCESS: dict[str, frozenset[str]] = {
    "POST /v1/referrals": TRIAGE,
    "GET /v1/referrals": TRIAGE,
    "GET /v1/status-changes": TRIAGE,
    "PUT /v1/webhook": TRIAGE,
    "GET /v1/webhook": TRIAGE,
    "DELETE /v1/webhook": TRIAGE,
    "GET /v1/referrals/{referral_id}": TRIAGE,
    "GET /v1/referrals/{referral_id}/contact": TRIAGE,
    "PATCH /v1/referrals/{referral_id}/contact": TRIAGE,
    "POST /v1/referrals/{referral_id}/consent": TRIAGE,
    "POST /v1/referrals/{referral_id}/override": SUPERVISOR,
    "POST /v1/referrals/{referral_id}/statutory-referrals": SUPERVISOR,
    "GET /v1/referrals/{referral_id}/disclosures": SUPERVISOR,
    "POST /v1/referrals/{referral_id}/erasure": SUPERVISOR,
    "GET /v1/subject-access": SUPERVISOR,
    "POST /v1/assessments/explain": EVERY_STAFF_ROLE,
    "POST /v1/simulations": COMMISSIONING,
    "GET /v1/reports/performance": COMMISSIONING,
    "GET /internal/v1/referrals/{referral_id}/contact": ADAPTERS,
    "POST /internal/v1/referrals/{referral_id}/contact": ADAPTERS,
    "PUT /internal/v1/people/{actor}": ADAPTERS,
    "POST /internal/v1/referrals/{referral_id}/notes": ADAPTERS,
}
