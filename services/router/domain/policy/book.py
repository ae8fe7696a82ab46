"""Every loaded policy version, and which one is in force on a given day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from services.router.domain.policy.engine import CompiledPolicy
from services.router.domain.policy.version import PolicyVersion, Status


class UnknownPolicyVersion(KeyError):
    pass


class NoPolicyInForce(LookupError):
    pass


class PolicyBook:
    def __init__(self, policies: Iterable[CompiledPolicy]) -> None:
        self._by_id = {p.id: p for p in policies}

    def replace(self, other: PolicyBook) -> None:
        """Take ``other``'s versions in place of these (a running router re-reading its
        policy directory): whoever holds this book sees them from the next lookup."""
        self._by_id = dict(other._by_id)

    def get(self, version: str) -> CompiledPolicy:
        try:
            return self._by_id[version]
        except KeyError:
            raise UnknownPolicyVersion(version) from None

    def in_force(self, day: date) -> CompiledPolicy:
        """The active version with the latest effective date on or before ``day``."""
        active = [
            p
            for p in self._by_id.values()
            if p.version.manifest.status is Status.ACTIVE
            and p.version.manifest.effective_from <= day
        ]
        if not active:
            raise NoPolicyInForce(f"no active policy version is in force on {day.isoformat()}")
        return max(active, key=lambda p: p.version.sort_key())

    def replaced_by(self, candidate: CompiledPolicy, day: date) -> CompiledPolicy:
        """What ``candidate`` is compared with on ``day``: the version in force, or, when that
        is the candidate itself, the version in force the day before it took effect.

        Raises ``NoPolicyInForce`` when there is none."""
        current = self.in_force(day)
        if current.id != candidate.id:
            return current
        return self.in_force(candidate.version.manifest.effective_from - timedelta(days=1))

    def versions(self) -> list[PolicyVersion]:
        return sorted((p.version for p in self._by_id.values()), key=PolicyVersion.sort_key)
