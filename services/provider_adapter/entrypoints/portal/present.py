"""How the portal says things: codes as plain English (GOV.UK style: sentence case, no
jargon), London times, clocks in words and status tags. Presentation only; the rules are in
``domain/``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from schemas import codes
from schemas.codes import TERMINAL_ROUTE_STATUSES
from services.provider_adapter.domain import clocks

LONDON = ZoneInfo("Europe/London")

SERVICE_NAMES = {service.value: names.provider for service, names in codes.SERVICE_NAMES.items()}

STATUS = {
    "requested": ("New", "govuk-tag--blue"),
    "received": ("Viewed", "govuk-tag--teal"),
    "escalated": ("Escalated", "govuk-tag--red"),
    "accepted": ("Accepted", "govuk-tag--turquoise"),
    "in_progress": ("In progress", "govuk-tag--green"),
    "on_hold": ("On hold", "govuk-tag--yellow"),
    "completed": ("Completed", "govuk-tag--grey"),
    "failed": ("Closed: not completed", "govuk-tag--grey"),
    "rejected": ("Rejected", "govuk-tag--grey"),
    "cancelled": ("Cancelled by the hub", "govuk-tag--grey"),
    "closed": ("Closed", "govuk-tag--grey"),
}

QUEUE_FILTERS = [
    ("open", "All open work", None),
    ("awaiting", "Waiting for a decision", ["requested", "received", "escalated"]),
    ("escalated", "Escalated", ["escalated"]),
    ("accepted", "Accepted, not yet contacted", ["accepted"]),
    ("in_progress", "In progress", ["in_progress"]),
    ("on_hold", "On hold", ["on_hold"]),
    ("completed", "Completed", ["completed"]),
    ("failed", "Closed: not completed", ["failed"]),
    ("rejected", "Rejected", ["rejected"]),
    ("cancelled", "Cancelled by the hub", ["cancelled"]),
]

PRIORITY = {
    "urgent": ("Urgent", "govuk-tag--red"),
    "high": ("High", "govuk-tag--orange"),
    "standard": ("Standard", "govuk-tag--grey"),
}

REJECTION_REASONS = {
    "capacity": "We do not have capacity to take this referral",
    "ineligible": "The person is not eligible for this service",
    "out_of_area": "The person lives outside the area we cover",
    "duplicate": "We already have this referral",
    "no_safe_contact": "There is no safe way to contact the person",
    "missing_information": "Information we need is missing",
    "other": "Another reason",
}

CHANNELS = {
    "phone": "Phone call",
    "sms": "Text message",
    "email": "Email",
    "post": "Letter",
    "in_person": "In person",
}

RESULTS = {
    "contacted": "Spoke to the person",
    "no_answer": "No answer",
    "unsafe": "Not safe to continue (put on hold)",
    "wrong_number": "Wrong number or address",
}

OUTCOMES = {
    "completed": "Support completed",
    "failed": "Support ended without being completed",
    "cancelled": "Referral withdrawn",
}

OUTCOME_REASONS = {
    "failed": {
        "not_contactable": "Could not make contact",
        "disengaged": "The person stopped engaging",
        "declined_support": "The person declined support",
    },
    "cancelled": {
        "no_longer_needed": "Support is no longer needed",
        "referred_elsewhere": "Referred to another service",
    },
}
# One list of radios on the outcome page; which reason fits which status is checked on submit.
EVERY_OUTCOME_REASON = {
    code: label for group in OUTCOME_REASONS.values() for code, label in group.items()
}

MEASURES = {
    "engaged": "Engaged with the service",
    "needs_met": "Needs met",
    "cope_and_recover": "Ability to cope and recover",
    "better_informed": "Better informed",
    "empowered_to_act": "Empowered to act",
    "cjs_experience_improved": "Experience of the criminal justice system improved",
    "cjs_confidence_increased": "Confidence in the criminal justice system increased",
    "risk_reduced": "Risk reduced",
    "abuse_ceased_or_reduced": "Abuse ceased or reduced",
    "safety_plan_in_place": "Safety plan in place",
    "education_placement_sustained": "Education placement sustained",
    "diverted_to_activity": "Diverted to a positive activity",
    "group_attended": "Attended the group",
    "programme_completed": "Completed the programme",
}

CHANGE = {"improved": "Improved", "no_change": "No change", "worse": "Worse"}

STEPS = {
    "queued": "Referral arrived",
    "viewed": "Opened",
    "acknowledged": "Decision recorded",
    "contact_attempt": "Contact attempt recorded",
    "outcome": "Outcome recorded",
    "cancelled": "Cancelled by the hub",
    "escalated": "Escalated: acknowledgement overdue",
    "contact_details_shown": "Contact details shown",
    "delivery_failed": "Webhook deliveries failed",
    "contact_changed": "Contact details changed at the Victim Advice Line",
}

CHANGED_FIELDS = {
    "name": "name",
    "phone": "phone number",
    "email": "email address",
    "address": "address",
    "safe_to_contact": "whether it is safe to contact them",
    "safe_contact_notes": "safe-contact notes",
    "preferred_channel": "preferred way to contact",
    "relationship": "who the contact is",
}


def changed_fields(fields: list[str]) -> str:
    """The changed contact fields in words: ``phone number and safe-contact notes``."""
    words = [CHANGED_FIELDS.get(f, humanise(f).lower()) for f in fields]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


CONTACT_FIELDS = {
    "name": "Name",
    "phone": "Phone",
    "email": "Email",
    "address": "Address",
    "preferred_channel": "Preferred way to contact",
}

FACTS = {
    "local_authority": "Local authority",
    "source": "Referred by",
    "subject.role": "Role",
    "subject.age": "Age",
    "subject.vulnerabilities": "Vulnerabilities",
    "subject.repeat_victim": "Referred before in the last 12 months",
    "incident.crime_types": "Crime types",
    "incident.occurred_at": "When it happened",
    "incident.drug_possession": "Drug possession",
    "assessment.needs": "Needs",
    "assessment.dash": "DASH risk assessment",
    "assessment.da_incidents_last_12_months": "Domestic abuse incidents in the last 12 months",
    "assessment.previous_marac_within_12_months": "Discussed at MARAC in the last 12 months",
    "assessment.threat_to_life": "Threat to life",
    "assessment.hospital_setting": "Referred from a hospital",
    "assessment.cce_indicators": "Child criminal exploitation indicators",
    "consent": "Consent",
    "contact.preferred_channel": "Preferred way to contact",
    "contact.safe_to_contact": "Safe to contact",
}


def humanise(code: object) -> str:
    """``domestic_abuse`` → ``Domestic abuse``; for codes without a label of their own."""
    text = str(code).replace("_", " ")
    return text[:1].upper() + text[1:]


def fact_value(value: Any) -> str:
    if value is None:
        return "Not known"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(humanise(v) for v in value) if value else "None"
    if isinstance(value, dict):
        if "yes_count" in value:
            high = value.get("professional_judgement_high")
            count = value.get("yes_count")
            scored = f"{count} of 27 answered yes" if count is not None else "Not scored"
            return scored + ("; professional judgement: high risk" if high else "")
        return "; ".join(f"{humanise(k)}: {fact_value(v)}" for k, v in value.items())
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and "T" in value:
        try:
            return london(datetime.fromisoformat(value))
        except ValueError:
            return humanise(value)
    if isinstance(value, str):
        return humanise(value)
    return str(value)


def fact_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """A work item's coded facts (keyed by dotted path, ``subject.age``) as label and value
    rows, in the order of ``FACTS``, then any others."""
    ordered = [k for k in FACTS if k in facts] + sorted(k for k in facts if k not in FACTS)
    return [(FACTS.get(k, humanise(k.rsplit(".", 1)[-1])), fact_value(facts[k])) for k in ordered]


def contact_value(name: str, value: Any) -> str:
    if value is None or value == "":
        return "Not given"
    if name == "preferred_channel":
        return CHANNELS.get(str(value), humanise(value))
    return str(value)


def london(at: datetime | str | None) -> str:
    """``30 November 2026 at 2:05pm`` (GOV.UK style), in London time."""
    if at is None:
        return ""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    local = at.astimezone(LONDON)
    hour = local.strftime("%I").lstrip("0") or "12"
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{local:%p}".replace("AM", "am").replace(
        "PM", "pm"
    )


def status_tag(status: str) -> Markup:
    label, colour = STATUS.get(status, (humanise(status), "govuk-tag--grey"))
    return Markup('<strong class="govuk-tag {}">{}</strong>').format(colour, label)


def priority_tag(priority: str) -> Markup:
    label, colour = PRIORITY.get(priority, (humanise(priority), "govuk-tag--grey"))
    return Markup('<strong class="govuk-tag {}">{}</strong>').format(colour, label)


def clock_html(clock: clocks.Clock, met: str, stopped: str = "Not needed") -> Markup:
    """The clock in words; a breach says so in words (not colour alone) and is marked."""
    if clock.state is clocks.ClockState.MET:
        return Markup("{}").format(met)
    if clock.state is clocks.ClockState.STOPPED:
        return Markup("{}").format(stopped)
    words = clocks.describe(clock)
    if clock.breached:
        return Markup(
            '<strong class="govuk-tag govuk-tag--red">Breached</strong> '
            '<span class="app-clock--breached">{}</span>'
        ).format(words[:1].upper() + words[1:])
    return Markup("{}").format(words[:1].upper() + words[1:])


def qr_code(uri: str) -> Markup:
    """The ``otpauth://`` URI as an inline SVG QR code (no image fetched, nothing sent)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, omitsize=False)
    svg = svg.replace(
        "<svg ",
        '<svg role="img" aria-label="QR code to add this account to your authenticator app" ',
        1,
    )
    return Markup(svg)  # noqa: S704 - segno's SVG of our own URI, nothing from a person


def short_id(referral_id: object) -> str:
    """The first eight characters of a referral id: enough to tell items apart on a page."""
    return str(referral_id)[:8]


def grouped_secret(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def choices(
    options: Mapping[str, str] | Iterable[tuple[str, str]], selected: object
) -> list[dict[str, Any]]:
    """The ``items`` of a GOV.UK radios component: one ``{"value", "text", "checked"}`` per
    ``(code, label)`` of ``options`` (a mapping or pairs, in order), checked where the code is
    ``selected`` (the value the person sent back, or undefined on a fresh form)."""
    pairs = options.items() if isinstance(options, Mapping) else options
    return [{"value": code, "text": label, "checked": selected == code} for code, label in pairs]


@pass_context
def field_error(context: Context, name: str) -> dict[str, str] | None:
    """The ``errorMessage`` of a GOV.UK form component: ``{"text": sentence}`` when the page's
    ``field_errors`` (see ``forms.Problems``) name the field ``name``, else ``None`` (no
    message, no error styling)."""
    errors = context.get("field_errors") or {}
    sentence = errors.get(name)
    return {"text": sentence} if sentence else None


FILTERS: dict[str, Any] = {
    "london": london,
    "status_tag": status_tag,
    "priority_tag": priority_tag,
    "humanise": humanise,
    "fact_rows": fact_rows,
    "short_id": short_id,
    "grouped": grouped_secret,
    "qr_code": qr_code,
    "changed_fields": changed_fields,
}

GLOBALS: dict[str, Any] = {
    "STATUS": STATUS,
    "REJECTION_REASONS": REJECTION_REASONS,
    "CHANNELS": CHANNELS,
    "RESULTS": RESULTS,
    "OUTCOMES": OUTCOMES,
    "EVERY_OUTCOME_REASON": EVERY_OUTCOME_REASON,
    "MEASURES": MEASURES,
    "CHANGE": CHANGE,
    "STEPS": STEPS,
    "CONTACT_FIELDS": CONTACT_FIELDS,
    "QUEUE_FILTERS": QUEUE_FILTERS,
    "escape": escape,
    "choices": choices,
    "field_error": field_error,
    "now": lambda: datetime.now(UTC),
    "TERMINAL": {s.value for s in TERMINAL_ROUTE_STATUSES},
}
