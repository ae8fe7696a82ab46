"""Synthetic referrals. Nothing here is real personal data; marker values are made to be
found by substring search, so that a leak anywhere is easy to spot."""

from __future__ import annotations

import copy
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any


def ago(**delta: float) -> str:
    """An instant ``delta`` before now, as the API writes it. The tests' referrals are always
    recent, so the clocks they start behave the same on whatever day the suite runs."""
    return (
        (datetime.now(UTC).replace(microsecond=0) - timedelta(**delta))
        .isoformat()
        .replace("+00:00", "Z")
    )


BASE: dict[str, Any] = {
    "source": "police_officer",
    "crime_reference": "22/00001/26",
    "crime_reported_at": ago(hours=1),
    "local_authority": "worcestershire",
    "subject": {
        "role": "victim",
        "age": 34,
        "gender": "female",
        "vulnerabilities": [],
        "persistently_targeted": False,
        "intimidated": False,
        "bereaved_relative": False,
    },
    "contact": {
        "name": "Test Person",
        "phone": "07700 900000",
        "email": "test.person@example.org",
        "address": "1 Test Street, Worcester",
        "safe_to_contact": True,
        "safe_contact_notes": "any time",
        "preferred_channel": "phone",
    },
    "incident": {
        "crime_types": ["other"],
        "occurred_at": ago(hours=13),
        "drug_possession": None,
    },
    "assessment": {
        "needs": ["emotional_support"],
        "dash": None,
        "da_incidents_last_12_months": 0,
        "previous_marac_within_12_months": False,
        "cce_indicators": [],
        "threat_to_life": False,
        "hospital_setting": False,
    },
    "consent": {"status": "given", "recorded_at": ago(minutes=55), "recorded_by": "PC 1"},
}


def apply(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Set dotted paths (``subject.age``) on a copy of ``body``; a value replaces the field."""
    result = copy.deepcopy(body)
    for path, value in changes.items():
        target = result
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = copy.deepcopy(value)
    return result


def referral(**changes: Any) -> dict[str, Any]:
    """The base referral with ``changes`` (dotted paths written with ``__``: subject__age=16).
    Each call is a different person and crime, unless ``changes`` say otherwise, so that
    intake does not link it to an earlier test's referral as a duplicate."""
    unique = secrets.token_hex(3)
    distinct = {"crime_reference": f"22/{unique}/26", "contact.name": f"Test Person {unique}"}
    return apply(BASE, {**distinct, **{k.replace("__", "."): v for k, v in changes.items()}})


def high_risk_da(**changes: Any) -> dict[str, Any]:
    return referral(
        incident__crime_types=["domestic_abuse"],
        assessment__dash={"yes_count": 15, "professional_judgement_high": False},
        **changes,
    )


def marked(tag: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """A high-risk DA referral whose every personal field holds a unique marker; returns the
    body and the markers to search for."""
    tag = tag or secrets.token_hex(4)
    digits = str(int(tag, 16) % 10**6).zfill(6)
    markers = {
        "name": f"Quillon Markwright {tag}",
        "phone": f"07700 9{digits[:2]} {digits[2:]}",
        "email": f"qm.{tag}@example.org",
        "address": f"{tag} Markwright Lane, Worcester",
        "safe_contact_notes": f"ring twice {tag}",
        "crime_reference": f"MK/{tag}/26",
        "recorded_by": f"PC Marker {tag}",
        "date_of_birth": "1987-03-14",
    }
    body = high_risk_da(
        crime_reference=markers["crime_reference"],
        subject__date_of_birth=markers["date_of_birth"],
        subject__age=None,
        contact__name=markers["name"],
        contact__phone=markers["phone"],
        contact__email=markers["email"],
        contact__address=markers["address"],
        contact__safe_contact_notes=markers["safe_contact_notes"],
        consent__recorded_by=markers["recorded_by"],
    )
    del body["subject"]["age"]
    searchable = [*markers.values(), markers["phone"].replace(" ", "")]
    return body, searchable
