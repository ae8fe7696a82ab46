"""A second submission for an open referral: the combined picture the router decides on.

A resubmission never replaces what is on record, and what is on record never hides what a
resubmission says: each fact of the combined picture is the more protective of the two,
so no fact of either is lost and a decision on it is never less protective than either
alone. Each submission is also kept as it was given (``submissions``), so nothing is
overwritten even where the record stays higher.

How each fact combines (the **combined picture**):

- risk figures and counts (DASH yes-count, DA incidents in the last 12 months, a count
  added later, such as children in the household): the **highest**;
- yes/no facts (threat to life, professional judgement high, a previous MARAC, hospital
  setting, persistently targeted, intimidated, bereaved, repeat victim, homicide …):
  **yes if either says yes** (a risk once recorded stands until staff correct it);
- lists (crime types, needs, vulnerabilities, CCE indicators): the **union**; ``none`` is
  dropped from needs once any need is identified;
- age: the **lower** (where a person may be a child, they are treated as one until shown
  otherwise: Children Act 1989 and the Home Office age-assessment guidance);
- when the crime was reported: the **earliest** (the Victims' Code clock runs from the
  first report, and an age is measured on that day); when it happened: the **latest**
  (the newest incident decides the forensic window);
- drug possession: the risk indicators (intent to supply suspected, disengaged from
  diversion) if either says so, and personal use only if both say so;
- safe to contact: **not safe** if either says not safe; the preferred channel and the
  local authority (where the person is now) from the newest submission that gives them;
- the referral's id, source and time of receipt: those of the referral.

**Consent** is not a risk figure to maximise but the person's own decision, so the latest
answer stands and changing it is a consent change, recorded exactly as
``POST /v1/referrals/{id}/consent`` records one (who, when, the consent history; a refusal
stops disclosure at once). ``not_asked`` never overrides an answer on record. Refused after
given (or not yet asked) is a **withdrawal**; given after refused is **consent given**.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.codes import ConsentStatus, Need
from schemas.events import ReferralFacts
from services.referral_intake.domain.consent import ConsentChange


class UnknownFact(ValueError):
    """A fact with no rule for combining it: a new field needs a decision here first."""


@dataclass(frozen=True)
class Combined:
    facts: ReferralFacts
    raised: tuple[str, ...]
    """Facts (dotted paths) the new submission raised above what was on record."""
    kept_from_record: tuple[str, ...]
    """Facts where the record stands higher than the new submission (it is kept)."""
    consent_change: ConsentChange | None

    @property
    def changed(self) -> bool:
        return bool(self.raised) or self.consent_change is not None


def _keep_record(old: Any, new: Any) -> Any:
    return old


def _newest_given(old: Any, new: Any) -> Any:
    return new if new is not None else old


def _earliest(old: datetime | None, new: datetime | None) -> datetime | None:
    return min((t for t in (old, new) if t is not None), default=None)


def _latest(old: datetime | None, new: datetime | None) -> datetime | None:
    return max((t for t in (old, new) if t is not None), default=None)


def _lowest(old: int, new: int) -> int:
    return min(old, new)


def _needs(old: list[Any], new: list[Any]) -> list[Any]:
    union = list(dict.fromkeys([*old, *new]))
    identified = [n for n in union if n != Need.NONE]
    return identified or union


def _all_say_yes(old: bool | None, new: bool | None) -> bool | None:
    if old is None or new is None:
        return new if old is None else old
    return old and new


def _not_safe_if_either_says(old: bool | None, new: bool | None) -> bool | None:
    if old is False or new is False:
        return False
    return True if (old or new) else None


RULES: dict[str, Callable[[Any, Any], Any]] = {
    "referral_id": _keep_record,
    "received_at": _keep_record,
    "source": _keep_record,
    "reported_at": _earliest,
    "local_authority": _newest_given,
    "subject.role": _keep_record,  # the same by definition: another role is another referral
    "subject.age": _lowest,
    "incident.occurred_at": _latest,
    "incident.drug_possession.personal_use": _all_say_yes,
    "assessment.needs": _needs,
    "contact.safe_to_contact": _not_safe_if_either_says,
    "contact.preferred_channel": _newest_given,
    "consent": _keep_record,  # a change of consent is applied by ``combine`` (below)
}
"""Facts combined otherwise than by type (highest number, yes if either, union)."""


def _combine(path: str, old: Any, new: Any) -> Any:
    rule = RULES.get(path)
    if rule is not None:
        return rule(old, new)
    if isinstance(old, dict) or isinstance(new, dict):
        if old is None or new is None:
            return new if old is None else old
        return {
            name: _combine(f"{path}.{name}" if path else name, old.get(name), new.get(name))
            for name in dict.fromkeys([*old, *new])
        }
    if isinstance(old, bool) or isinstance(new, bool):
        return bool(old) or bool(new)
    if isinstance(old, int) or isinstance(new, int):
        return max((n for n in (old, new) if n is not None), default=None)
    if isinstance(old, list) or isinstance(new, list):
        return list(dict.fromkeys([*(old or []), *(new or [])]))
    if old is None and new is None:
        return None
    raise UnknownFact(f"no rule for combining {path!r}")


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Leaf paths where ``a`` and ``b`` differ (lists compared as sets)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for name in dict.fromkeys([*a, *b]):
            found += _differences(a.get(name), b.get(name), f"{path}.{name}" if path else name)
        return found
    if isinstance(a, dict) or isinstance(b, dict):
        return _differences(a or {}, b or {}, path) or ([path] if a != b else [])
    if isinstance(a, list) and isinstance(b, list):
        return [] if set(a) == set(b) else [path]
    return [] if a == b else [path]


def consent_after(on_record: ConsentStatus, given_now: ConsentStatus) -> ConsentChange | None:
    """The consent change a resubmission makes, if any (see the module's description)."""
    if given_now is ConsentStatus.NOT_ASKED or given_now is on_record:
        return None
    if given_now is ConsentStatus.GIVEN:
        return "given"
    return "withdrawn" if on_record is ConsentStatus.GIVEN else "refused"


IGNORED = frozenset({"consent", "referral_id", "received_at", "source"})
"""Paths not reported as raised or kept: consent is reported as a change of its own, and
the rest are the referral's by definition."""


def combine(on_record: ReferralFacts, new: ReferralFacts) -> Combined:
    """The combined picture of the facts on record and a new submission's (whose
    ``referral_id`` and ``received_at`` are replaced by the record's). Raises
    ``UnknownFact`` for a fact no rule covers."""
    old_facts = on_record.model_dump(mode="python")
    new_facts = new.model_dump(mode="python")
    consent_change = consent_after(on_record.consent, new.consent)
    merged = _combine("", old_facts, new_facts)
    merged["consent"] = {
        None: on_record.consent,
        "given": ConsentStatus.GIVEN,
        "refused": ConsentStatus.REFUSED,
        "withdrawn": ConsentStatus.REFUSED,
    }[consent_change]
    facts = ReferralFacts.model_validate(merged)
    combined = facts.model_dump(mode="python")
    raised = [p for p in _differences(old_facts, combined) if p.split(".")[0] not in IGNORED]
    kept = [p for p in _differences(new_facts, combined) if p.split(".")[0] not in IGNORED]
    return Combined(
        facts=facts,
        raised=tuple(raised),
        kept_from_record=tuple(kept),
        consent_change=consent_change,
    )


NOTES_SEPARATOR = "\n---\n"


def _notes(old: str | None, new: str | None) -> str | None:
    """Safe-contact notes are safety instructions: keep every distinct one, newest first."""
    kept = [n for n in dict.fromkeys([new, *(old or "").split(NOTES_SEPARATOR)]) if n]
    return NOTES_SEPARATOR.join(kept) or None


def merge_personal(
    current: dict[str, Any], new: dict[str, Any], *, version: int, at: datetime, by: str
) -> dict[str, Any]:
    """A vault entry after a resubmission: the current personal data updated with the new
    submission's (a field it gives replaces the old one, a field it leaves out is kept; not
    safe to contact stays not safe; safe-contact notes accumulate; the date of birth and
    crime reference on record stay), and every submission's own personal data, as given,
    under ``history``."""
    history = list(current.get("history") or [{"version": 1, **_without_history(current)}])
    history.append({"version": version, "submitted_at": at.isoformat(), "by": by, **new})
    merged: dict[str, Any] = {}
    for name in dict.fromkeys([*_without_history(current), *new]):
        old_value, new_value = current.get(name), new.get(name)
        if name in ("date_of_birth", "crime_reference"):
            merged[name] = old_value if old_value is not None else new_value
        elif name == "contact" and isinstance(old_value, dict) and isinstance(new_value, dict):
            contact = {**old_value, **{k: v for k, v in new_value.items() if v is not None}}
            contact["safe_to_contact"] = _not_safe_if_either_says(
                old_value.get("safe_to_contact"), new_value.get("safe_to_contact")
            )
            contact["safe_contact_notes"] = _notes(
                old_value.get("safe_contact_notes"), new_value.get("safe_contact_notes")
            )
            merged[name] = contact
        else:
            merged[name] = new_value if new_value is not None else old_value
    merged["history"] = history
    return merged


def _without_history(personal: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in personal.items() if k != "history"}
