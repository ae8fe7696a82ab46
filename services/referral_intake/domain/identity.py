"""Who a referral is about, and whether two referrals are about the same person, without
comparing personal data in the clear.

The person is the **data subject**: ``subject.name`` when given, otherwise the contact's
name when the contact is the person themselves (``contact.relationship`` ``self``, the
default). A parent's name is never the child's identity: two children reached through one
parent are two people.

Identity fields are normalised, then hashed with a key only intake holds (HMAC-SHA256); the
keyed hashes are all that is stored beside the referral (without the key they cannot be
reversed or tested against a guessed name):

- **names**: Unicode NFKC, case folding, the optional vowel marks of Arabic and Hebrew
  dropped, transliterated to Latin letters by ``anyascii`` (every script gives a key:
  ``Олена Шевченко`` is ``olenashevchenko``), then only letters and digits kept, so that
  punctuation and spacing do not matter (``O'Brien`` = ``OBrien`` = ``O Brien``);
- **phone numbers**: parsed by libphonenumber (``phonenumbers``; numbers without a country
  code are read as UK numbers) and written in E.164, so that ``07700 900123``,
  ``+44 7700 900123`` and ``0044 (0)7700-900123`` are one number;
- **crime references**: NFKC, upper case, separators unified (``22/12345/23`` =
  ``22-12345-23``).

Keys: ``person`` (name and date of birth), ``person_phone`` (name and phone),
``born`` (date of birth alone, to tell apart two people with one name and one phone, a
parent and child named alike) and ``crime``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from anyascii import anyascii

from schemas.codes import ContactRelationship, Role
from services.referral_intake.domain.referral import ReferralRequest

DUPLICATE_WINDOW_DAYS = 30
"""A second submission for the same person, role and crime within this many days of the
referral's latest one joins it (while it is open)."""
REPEAT_WINDOW_DAYS = 365
"""Another referral of the same person within this many days is cross-linked (and makes a
victim a repeat victim)."""
AGE_TOLERANCE_YEARS = 1
"""Two submissions matched by name and phone alone are one person only when their ages
(in whole years) differ by no more than this: a birthday can fall between them."""
IDENTITY_VERSION = 2
"""Bumped whenever normalisation changes: rows keyed by an older version are keyed again
from the vault (``handlers.identity.rekey``)."""
REGION = "GB"
VICTIM_ROLES = frozenset({Role.VICTIM, Role.AT_RISK_CHILD})

# Optional vowel and reading marks, and the Arabic tatweel (a stretching stroke): the same
# name is written with and without them.
_OPTIONAL_MARKS = re.compile("[\u0591-\u05c7\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06ed]")
_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_SEPARATORS = re.compile(r"[^A-Z0-9]+")


def normalise_name(name: str) -> str:
    """Letters and digits of ``name`` in Latin script, case-folded; empty when there are
    none."""
    text = _OPTIONAL_MARKS.sub("", unicodedata.normalize("NFKC", name).casefold())
    latin = _NOT_ALPHANUMERIC.sub("", anyascii(text).casefold())
    # A few letters transliterate to nothing (Hebrew aleph, Arabic alef): a name made only
    # of them still has a key, from the letters themselves.
    return latin or "".join(c for c in text if c.isalnum())


def normalise_phone(phone: str) -> str | None:
    """The number in E.164 (``+447700900123``); ``None`` when it cannot be a phone number."""
    try:
        number = phonenumbers.parse(phone, REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_crime_reference(reference: str) -> str:
    text = unicodedata.normalize("NFKC", reference).upper()
    return _SEPARATORS.sub("/", text).strip("/")


def name_of_subject(
    subject_name: str | None, contact_name: str | None, relationship: str | None
) -> str | None:
    """The name of the person referred: ``subject.name``, or the contact's own name when
    the contact is that person (``relationship`` ``self``, the default). ``None`` when
    neither is known: a parent's name is never their child's."""
    if subject_name:
        return subject_name
    if (relationship or ContactRelationship.SELF) == ContactRelationship.SELF:
        return contact_name or None
    return None


def subject_name(request: ReferralRequest) -> str | None:
    contact = request.contact
    return name_of_subject(
        request.subject.name,
        contact.name if contact else None,
        contact.relationship if contact else None,
    )


@dataclass(frozen=True)
class IdentityKeys:
    person: str | None = None
    """Name and date of birth."""
    person_phone: str | None = None
    """Name and phone number."""
    born: str | None = None
    """Date of birth alone."""
    crime: str | None = None

    @property
    def identifies(self) -> bool:
        """Whether the keys can identify a person at all."""
        return bool(self.person or self.person_phone)


def _keyed(key: bytes, *parts: str) -> str:
    return hmac.new(key, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def keys_of(
    key: bytes,
    *,
    name: str | None,
    date_of_birth: str | None,
    phone: str | None,
    crime_reference: str | None,
) -> IdentityKeys:
    """Keyed hashes of the normalised fields (``None`` where a field is missing or
    normalises to nothing). ``date_of_birth`` is ``YYYY-MM-DD``."""
    folded = normalise_name(name) if name else ""
    e164 = normalise_phone(phone) if phone else None
    reference = normalise_crime_reference(crime_reference) if crime_reference else ""
    return IdentityKeys(
        person=_keyed(key, "person", folded, date_of_birth) if folded and date_of_birth else None,
        person_phone=_keyed(key, "person-phone", folded, e164) if folded and e164 else None,
        born=_keyed(key, "born", date_of_birth) if date_of_birth else None,
        crime=_keyed(key, "crime", reference) if reference else None,
    )


def identity_keys(request: ReferralRequest, key: bytes) -> IdentityKeys:
    """The keys of a referral's data subject and crime."""
    born = request.subject.date_of_birth
    return keys_of(
        key,
        name=subject_name(request),
        date_of_birth=born.isoformat() if born else None,
        phone=request.contact.phone if request.contact else None,
        crime_reference=request.crime_reference,
    )


def keyed_idempotency_key(secret: bytes, idempotency_key: str) -> str:
    """What is stored of an Idempotency-Key: its HMAC under intake's identity key (the key
    itself is free text a client chose). Issue 25, finding 4."""
    return hmac.new(secret, b"idempotency-key|" + idempotency_key.encode(), "sha256").hexdigest()


def keyed_request_hash(secret: bytes, unkeyed: str) -> str:
    """What is stored of the body sent with an Idempotency-Key: an HMAC under intake's
    identity key of its SHA-256 (``unkeyed``, hex), so that nobody without the key can test
    a guess of the person's details against it (issue 25). Cleared when the referral is
    erased."""
    return hmac.new(secret, b"request|" + unkeyed.encode(), "sha256").hexdigest()


def same_person(a: IdentityKeys, a_age: int, b: IdentityKeys, b_age: int) -> bool:
    """One data subject: the same name and date of birth; or the same name and phone
    number, with no date of birth that differs and ages no further apart than a birthday.
    Twins (one date of birth, two names), siblings and a parent and child (one phone, one
    surname, two names) are different people; so are a parent and child with the same name
    and phone (two dates of birth, or ages years apart)."""
    if a.person is not None and a.person == b.person:
        return True
    if a.person_phone is None or a.person_phone != b.person_phone:
        return False
    if a.born is not None and b.born is not None and a.born != b.born:
        return False
    return abs(a_age - b_age) <= AGE_TOLERANCE_YEARS


@dataclass(frozen=True)
class OnRecord:
    """What intake holds about one earlier referral's subject: keys and coded facts."""

    referral_id: uuid.UUID
    keys: IdentityKeys
    role: Role
    age: int
    open: bool
    received_at: datetime
    last_submitted_at: datetime


@dataclass(frozen=True)
class Match:
    same_referral: OnRecord | None
    """The open referral this submission joins (same person, role and crime)."""
    same_person: tuple[OnRecord, ...]
    """The person's other referrals in the last 12 months, to cross-link."""
    repeat_victim: bool


def match(
    keys: IdentityKeys, role: Role, age: int, on_record: list[OnRecord], now: datetime
) -> Match:
    """Whether a submission joins an open referral or is a new one, and which referrals of
    the same person it is cross-linked to.

    The **same referral** is the same data subject (``same_person``) in the same role
    (a suspect who is now a victim is a new referral), for the same crime (the same crime
    reference: without one, no crime can be shown to be the same), still open, and
    submitted within ``DUPLICATE_WINDOW_DAYS`` of its latest submission. Anything else
    is a new referral, cross-linked to the same person's referrals of the last
    ``REPEAT_WINDOW_DAYS``. A victim with another referral as a victim in that time is a
    repeat victim."""
    people = sorted(
        (r for r in on_record if same_person(keys, age, r.keys, r.age)),
        key=lambda r: r.last_submitted_at,
        reverse=True,
    )
    joins = next(
        (
            r
            for r in people
            if keys.crime is not None
            and r.keys.crime == keys.crime
            and r.role is role
            and r.open
            and r.last_submitted_at >= now - timedelta(days=DUPLICATE_WINDOW_DAYS)
        ),
        None,
    )
    since = now - timedelta(days=REPEAT_WINDOW_DAYS)
    others = tuple(
        r
        for r in people
        if r is not joins and (r.received_at >= since or r.last_submitted_at >= since)
    )
    repeat = role in VICTIM_ROLES and any(r.role in VICTIM_ROLES for r in others)
    return Match(same_referral=joins, same_person=others, repeat_victim=repeat)
