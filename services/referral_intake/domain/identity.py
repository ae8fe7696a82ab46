"""Matching people and crimes without comparing personal data in the clear.

Identity fields are normalised (case, accents, spacing, punctuation) and hashed with a key
only intake holds (HMAC-SHA256). The keyed hashes are all that is stored beside the
referral; without the key they cannot be reversed or tested against a guessed name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from services.referral_intake.domain.referral import ReferralRequest

DUPLICATE_WINDOW_DAYS = 30
REPEAT_WINDOW_DAYS = 365


def normalise_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z ]+", " ", letters.lower()).split())


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("44"):
        digits = "0" + digits[2:]
    return digits[-11:]


def normalise_crime_reference(reference: str) -> str:
    return re.sub(r"[^A-Z0-9/]", "", reference.upper())


@dataclass(frozen=True)
class IdentityKeys:
    person: str | None
    crime: str | None


def _keyed(key: bytes, *parts: str) -> str:
    return hmac.new(key, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def identity_keys(request: ReferralRequest, key: bytes) -> IdentityKeys:
    """A person key from name and date of birth (or name and phone when there is no date of
    birth), and a crime key from the crime reference; None where the fields are missing."""
    contact = request.contact
    name = normalise_name(contact.name) if contact and contact.name else ""
    born: date | None = request.subject.date_of_birth
    phone = normalise_phone(contact.phone) if contact and contact.phone else ""
    person = None
    if name and born:
        person = _keyed(key, "person", name, born.isoformat())
    elif name and phone:
        person = _keyed(key, "person-phone", name, phone)
    crime = None
    if request.crime_reference and normalise_crime_reference(request.crime_reference):
        crime = _keyed(key, "crime", normalise_crime_reference(request.crime_reference))
    return IdentityKeys(person=person, crime=crime)
