"""The portal's pages rendered from their templates (no server): what a caseworker reads in
the cases the browser tests do not reach, such as a person it is not safe to contact, and
a service whose agreement shares no safety notes."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import outcome_measures
from schemas.codes import RouteStatus, Service
from services.provider_adapter.domain import clocks
from services.provider_adapter.entrypoints.portal import present
from services.provider_adapter.entrypoints.portal.web import environment

ENV = environment()
NOW = datetime.now(UTC)


def _render(template: str, **context: Any) -> str:
    base: dict[str, Any] = {
        "request": None,
        "service": "IDVA",
        "service_name": present.SERVICE_NAMES["IDVA"],
        "person": None,
        "csrf_token": "token",
        "csrf_field": "csrf_token",
        "asset": lambda name: f"/portal/assets/{name}",
        "cspNonce": "nonce",
        "current_path": "/portal/queue",
        "errors": [],
        "field_errors": {},
    }
    return ENV.get_template(template).render(**{**base, **context})


def _item(status: str = "received") -> dict[str, Any]:
    return {
        "referral_id": str(uuid.uuid4()),
        "route_id": str(uuid.uuid4()),
        "service": "IDVA",
        "sub_service": "core",
        "priority": "urgent",
        "status": status,
        "requested_at": NOW.isoformat(),
        "acknowledge_by": (NOW + timedelta(hours=3)).isoformat(),
        "contact_due_by": (NOW + timedelta(days=2)).isoformat(),
        "code_deadline": (NOW + timedelta(days=2)).isoformat(),
        "reason": "DASH 15 yes answers (14 or more is high risk)",
        "rule_ids": ["R-IDVA-HIGH-RISK"],
        "flags": ["marac_referral_required"],
        "consent_basis": "explicit_consent",
        "facts": {"subject.age": 34, "assessment.dash": {"yes_count": 15}},
        "contact_attempts": [],
        "outcome": None,
    }


def _page(contact: dict[str, Any] | None, shows_safety: bool = True) -> str:
    item = _item()
    ack = clocks.acknowledgement_clock(
        RouteStatus.RECEIVED, datetime.fromisoformat(item["acknowledge_by"]), NOW
    )
    rows = [
        {"key": {"text": present.CONTACT_FIELDS[f]}, "value": {"text": present.contact_value(f, v)}}
        for f, v in (contact or {}).items()
        if f in present.CONTACT_FIELDS
    ]
    return _render(
        "work_item.html",
        item=item,
        acknowledge_html=present.clock_html(ack, "Accepted"),
        contact_html=present.clock_html(ack, "Contacted"),
        done=None,
        contact=contact,
        contact_problem=None,
        contact_rows=rows,
        shows_safety=shows_safety,
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_someone_not_safe_to_contact_is_said_before_any_number() -> None:
    text = _text(
        _page(
            {
                "name": "Test Person",
                "phone": "07700 900111",
                "safe_to_contact": False,
                "safe_contact_notes": "Perpetrator monitors the phone",
                "preferred_channel": "phone",
            }
        )
    )
    assert "Not safe to contact. Perpetrator monitors the phone" in text
    assert text.index("Not safe to contact") < text.index("07700 900111")


def test_without_notes_the_page_says_none_were_given() -> None:
    text = _text(_page({"name": "Test Person", "phone": "07700 900111", "safe_to_contact": True}))
    assert "No safe-contact notes were given" in text


def test_before_the_explicit_action_no_contact_detail_is_on_the_page() -> None:
    text = _text(_page(None))
    assert "Show contact details" in text
    assert "disclosure log with your name" in text
    assert "Phone" not in text.split("About the referral")[0].split("Contact details")[-1]


def test_divert_shares_no_safety_notes_so_none_are_shown() -> None:
    text = _text(_page({"name": "Test Person", "phone": "07700 900111"}, shows_safety=False))
    assert "safe-contact" not in text.lower()
    assert "07700 900111" in text


def test_the_outcome_form_asks_for_each_of_the_services_measures() -> None:
    for service in Service:
        measures = outcome_measures.allowed(service)
        html = _render("outcome.html", item=_item("in_progress"), values={}, measures=measures)
        for name in measures:
            assert f'name="measure-{name}"' in html
            assert present.MEASURES[name] in html


def test_every_page_template_compiles() -> None:
    names = [n for n in ENV.list_templates() if not n.startswith("govuk_frontend_jinja/")]
    assert "queue.html" in names
    for name in names:
        ENV.get_template(name)


def test_an_erased_referral_says_it_is_no_longer_with_the_provider() -> None:
    """What a caseworker sees (410) on any page of a referral whose personal data was erased
    at the hub (issue 15): why, and the way back to the queue; nothing about the person."""
    page = _render("gone.html")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "This referral is no longer with you" in text
    assert "erased at the hub" in text
    assert 'href="/portal/queue"' in page
