"""The queue and a work item: the same handlers as the provider API (no second copy of any
rule), each call naming the signed-in person."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from schemas import data_sharing, outcome_measures
from schemas.codes import TERMINAL_ROUTE_STATUSES, RouteStatus
from schemas.refusals import Refused
from services.plumbing.cursors import InvalidCursor
from services.provider_adapter.adapters.intake_client import ContactUnavailable, ContactWithdrawn
from services.provider_adapter.domain import clocks
from services.provider_adapter.domain.work_item import TransitionNotAllowed
from services.provider_adapter.entrypoints.http import (
    Acknowledgement,
    ContactAttemptIn,
    OutcomeIn,
)
from services.provider_adapter.entrypoints.portal import present
from services.provider_adapter.entrypoints.portal.forms import NO_ERRORS, Problems, text
from services.provider_adapter.entrypoints.portal.web import Web, of, page, visit
from services.provider_adapter.handlers import accounts, work_items
from services.provider_adapter.handlers.common import Adapter, Gone

router = APIRouter(include_in_schema=False)

OPEN_STATUSES = [s.value for s in RouteStatus if s not in TERMINAL_ROUTE_STATUSES]
DONE = {
    "accepted": "You accepted this referral",
    "rejected": "You rejected this referral. The hub will offer it to another service",
    "contact_attempt": "Contact attempt recorded",
    "outcome": "Outcome recorded",
}


def _clocks(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    status = RouteStatus(item["status"])
    acknowledge = clocks.acknowledgement_clock(
        status, datetime.fromisoformat(item["acknowledge_by"]), now
    )
    contact = clocks.contact_clock(status, datetime.fromisoformat(item["contact_due_by"]), now)
    return {
        "acknowledge": acknowledge,
        "contact": contact,
        "acknowledge_html": present.clock_html(
            acknowledge,
            "Rejected" if status is RouteStatus.REJECTED else "Accepted",
            stopped="Cancelled",
        ),
        "contact_html": present.clock_html(contact, "Contacted"),
    }


def _decode(adapter: Adapter, cursor: str | None) -> tuple[int, datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        return work_items.decode_cursor(adapter, cursor)
    except InvalidCursor:
        return None


@router.get("/portal/queue")
@page
async def queue(request: Request) -> Response:
    web = of(request)
    person = await web.person(request)
    show = request.query_params.get("show", "open")
    chosen = next((f for f in present.QUEUE_FILTERS if f[0] == show), present.QUEUE_FILTERS[0])
    statuses = chosen[2] or OPEN_STATUSES
    after = _decode(web.adapter, request.query_params.get("after"))
    before = _decode(web.adapter, request.query_params.get("before"))
    size = web.adapter.settings.portal_page_size
    rows = await work_items.queue(
        web.adapter, statuses=statuses, after=after, before=before, limit=size + 1
    )
    if before is not None:
        has_previous, page_rows = len(rows) > size, rows[-size:]
        has_next = True
    else:
        has_previous, page_rows = after is not None, rows[:size]
        has_next = len(rows) > size
    now = datetime.now(UTC)
    items = []
    for row in page_rows:
        item = work_items.queue_item(row)
        items.append({**item, **_clocks(item, now)})
    counts = await work_items.counts(web.adapter)
    breached = sum(1 for i in items if i["acknowledge"].breached or i["contact"].breached)
    return web.render(
        request,
        "queue.html",
        {
            "items": items,
            "show": chosen[0],
            "filter_label": chosen[1],
            "filter_items": [
                {"value": key, "text": label, "selected": key == chosen[0]}
                for key, label, _ in present.QUEUE_FILTERS
            ],
            "open_count": sum(n for s, n in counts.items() if s in OPEN_STATUSES),
            "breached_on_page": breached,
            "previous": work_items.encode_cursor(web.adapter, page_rows[0])
            if has_previous and page_rows
            else None,
            "next": work_items.encode_cursor(web.adapter, page_rows[-1])
            if has_next and page_rows
            else None,
        },
        person=person,
    )


async def _item_page(
    web: Web,
    request: Request,
    person: accounts.SignedIn,
    referral_id: uuid.UUID,
    *,
    view: dict[str, Any] | None = None,
    contact: dict[str, Any] | None = None,
    contact_problem: str | None = None,
    errors: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    item = view or await work_items.view_work_item(web.adapter, referral_id, person=person.person)
    done = DONE.get(request.query_params.get("done", ""))
    allowed_contact = data_sharing.contact_fields(web.adapter.service)
    return web.render(
        request,
        "work_item.html",
        {
            "item": item,
            **_clocks(item, datetime.now(UTC)),
            "done": done,
            "contact": contact,
            "contact_problem": contact_problem,
            "contact_rows": [
                {
                    "key": {"text": present.CONTACT_FIELDS[f]},
                    "value": {"text": present.contact_value(f, contact.get(f))},
                }
                for f in ("name", "phone", "email", "address", "preferred_channel")
                if contact is not None and f in allowed_contact
            ],
            "shows_safety": "safe_to_contact" in allowed_contact,
            "errors": errors or [],
            "field_errors": {},
        },
        person=person,
        status=status,
    )


@router.get("/portal/work-items/{referral_id}")
@page
async def work_item(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    return await _item_page(web, request, person, rid)


@router.post("/portal/work-items/{referral_id}/contact-details")
@page
async def show_contact_details(referral_id: str, request: Request) -> Response:
    """Contact details are shown only on this explicit request, and each showing is a row
    in intake's disclosure log naming the person. The answer is this page itself (never a
    redirect: the details are fetched for this answer and kept nowhere)."""
    web, rid, person = await visit(request, referral_id)
    await web.checked_form(request)
    try:
        item = await work_items.read_work_item(web.adapter, rid, person=person.person)
    except (Gone, ContactWithdrawn):
        return await _item_page(
            web,
            request,
            person,
            rid,
            contact_problem="This referral is no longer with you, so its contact details "
            "are not shown.",
            status=410,
        )
    except ContactUnavailable:
        return await _item_page(
            web,
            request,
            person,
            rid,
            contact_problem="The contact details are not available yet. Try again in a few "
            "seconds.",
            status=503,
        )
    contact = item.pop("contact")
    return await _item_page(web, request, person, rid, view=item, contact=contact)


async def _refused(
    web: Web, request: Request, person: accounts.SignedIn, referral_id: uuid.UUID, sentence: str
) -> Response:
    return await _item_page(
        web,
        request,
        person,
        referral_id,
        errors=[{"text": sentence, "href": "#actions"}],
        status=409,
    )


@router.post("/portal/work-items/{referral_id}/accept")
@page
async def accept(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    await web.checked_form(request)
    try:
        await work_items.acknowledge(
            web.adapter, rid, accepted=True, reason=None, note=None, person=person.person
        )
    except TransitionNotAllowed as exc:
        return await _refused(web, request, person, rid, exc.sentence)
    return web.redirect(f"/work-items/{rid}", done="accepted")


# ---- reject -------------------------------------------------------------------------------------
async def _form_page(
    web: Web,
    request: Request,
    person: accounts.SignedIn,
    referral_id: uuid.UUID,
    template: str,
    values: dict[str, Any],
    problems: Problems | None = None,
    status: int = 200,
) -> Response:
    item = await work_items.view_work_item(web.adapter, referral_id, person=person.person)
    return web.render(
        request,
        template,
        {
            **(problems.context() if problems else NO_ERRORS),
            "item": item,
            "values": values,
            "measures": outcome_measures.allowed(web.adapter.service),
        },
        person=person,
        status=400 if problems and status == 200 else status,
    )


@router.get("/portal/work-items/{referral_id}/reject")
@page
async def reject_form(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    return await _form_page(web, request, person, rid, "reject.html", {})


@router.post("/portal/work-items/{referral_id}/reject")
@page
async def reject(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    form = await web.checked_form(request)
    values = {"reason": text(form, "reason"), "note": text(form, "note")}
    problems = Problems()
    try:
        body = Acknowledgement(
            decision="rejected", reason=values["reason"] or None, note=values["note"] or None
        )
    except ValidationError as exc:
        problems.take(
            exc,
            {
                "reason": "Select why you are rejecting this referral",
                "note": "The note must be 1,000 characters or fewer, in plain text",
            },
            {"reason": "reason"},
        )
        return await _form_page(web, request, person, rid, "reject.html", values, problems)
    try:
        await work_items.acknowledge(
            web.adapter,
            rid,
            accepted=False,
            reason=body.reason,
            note=body.note,
            person=person.person,
        )
    except TransitionNotAllowed as exc:
        return await _refused(web, request, person, rid, exc.sentence)
    except ContactUnavailable:
        # The note is kept in intake's vault (never here), which has not heard of this
        # route yet: nothing was stored.
        problems.add(
            "note", "The referral record is not ready for your note yet. Try again in a few seconds"
        )
        return await _form_page(
            web, request, person, rid, "reject.html", values, problems, status=503
        )
    return web.redirect(f"/work-items/{rid}", done="rejected")


# ---- contact attempts ---------------------------------------------------------------------------
def _now_values() -> dict[str, str]:
    now = datetime.now(UTC).astimezone(present.LONDON)
    return {
        "day": str(now.day),
        "month": str(now.month),
        "year": str(now.year),
        "time": f"{now:%H:%M}",
    }


def _attempt_at(values: dict[str, str], problems: Problems) -> datetime | None:
    try:
        day, month, year = int(values["day"]), int(values["month"]), int(values["year"])
        date = datetime(year, month, day)
    except ValueError:
        problems.add("at", "Enter the date of the attempt as a real date", "at-day")
        return None
    try:
        hour, minute = (int(part) for part in values["time"].replace(".", ":").split(":"))
        local = date.replace(hour=hour, minute=minute, tzinfo=present.LONDON)
    except ValueError:
        problems.add("time", "Enter the time as hours and minutes, like 14:30", "time")
        return None
    return local.astimezone(UTC)


@router.get("/portal/work-items/{referral_id}/contact-attempts")
@page
async def contact_attempt_form(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    return await _form_page(web, request, person, rid, "contact_attempt.html", _now_values())


@router.post("/portal/work-items/{referral_id}/contact-attempts")
@page
async def contact_attempt(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    form = await web.checked_form(request)
    values = {
        name: text(form, name) for name in ("day", "month", "year", "time", "channel", "result")
    }
    problems = Problems()
    at = _attempt_at(values, problems)
    body = None
    if at is not None:
        try:
            body = ContactAttemptIn(at=at, channel=values["channel"], result=values["result"])
        except ValidationError as exc:
            problems.take(
                exc,
                {
                    "at": "The date and time of the attempt cannot be in the future",
                    "channel": "Select how you tried to make contact",
                    "result": "Select what happened",
                },
                {"at": "at-day", "channel": "channel", "result": "result"},
            )
    if problems or body is None:
        return await _form_page(web, request, person, rid, "contact_attempt.html", values, problems)
    try:
        await work_items.record_contact_attempt(
            web.adapter,
            rid,
            at=body.at,
            channel=body.channel,
            result=body.result,
            person=person.person,
        )
    except work_items.AttemptBeforeRequest:
        problems.add(
            "at",
            "The date and time of the attempt cannot be before the referral reached your service",
            "at-day",
        )
        return await _form_page(web, request, person, rid, "contact_attempt.html", values, problems)
    except (TransitionNotAllowed, Refused) as exc:
        return await _refused(web, request, person, rid, exc.sentence)
    return web.redirect(f"/work-items/{rid}", done="contact_attempt")


# ---- outcome ------------------------------------------------------------------------------------
@router.get("/portal/work-items/{referral_id}/outcome")
@page
async def outcome_form(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    return await _form_page(web, request, person, rid, "outcome.html", {})


def _measure_value(raw: str) -> bool | str | None:
    return {"yes": True, "no": False, "": None}.get(raw, raw)


@router.post("/portal/work-items/{referral_id}/outcome")
@page
async def outcome(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    form = await web.checked_form(request)
    spec = outcome_measures.allowed(web.adapter.service)
    values: dict[str, Any] = {"status": text(form, "status"), "reason": text(form, "reason")}
    measures: dict[str, Any] = {}
    for name in spec:
        raw = text(form, f"measure-{name}")
        values[f"measure-{name}"] = raw
        chosen = _measure_value(raw)
        if chosen is not None:
            measures[name] = chosen
    problems = Problems()
    reasons = present.OUTCOME_REASONS.get(values["status"], {})
    if values["status"] in present.OUTCOME_REASONS and values["reason"] not in reasons:
        problems.add("reason", "Select why support ended", "reason")
    body = None
    try:
        body = OutcomeIn(
            status=values["status"],
            reason=values["reason"] if values["reason"] in reasons else None,
            measures=measures,
        )
    except ValidationError as exc:
        problems.take(exc, {"status": "Select how the case ended"}, {"status": "status"})
    if not problems and body is not None:
        try:
            await work_items.record_outcome(
                web.adapter,
                rid,
                status=body.status,
                reason=body.reason,
                measures=body.measures,
                person=person.person,
            )
        except (TransitionNotAllowed, Refused) as exc:
            return await _refused(web, request, person, rid, exc.sentence)
        except work_items.InvalidMeasures as exc:
            for error in exc.errors:
                name = error["field"].split(".", 1)[-1]
                problems.add(
                    f"measure-{name}", f"{present.MEASURES.get(name, name)}: {error['message']}"
                )
        else:
            return web.redirect(f"/work-items/{rid}", done="outcome")
    return await _form_page(web, request, person, rid, "outcome.html", values, problems)


# ---- timeline -----------------------------------------------------------------------------------
@router.get("/portal/work-items/{referral_id}/timeline")
@page
async def timeline(referral_id: str, request: Request) -> Response:
    web, rid, person = await visit(request, referral_id)
    steps = await work_items.history(web.adapter, rid)
    names = await accounts.names(web.adapter, [s["actor"] for s in steps if s["actor"]])
    item = await work_items.view_work_item(web.adapter, rid, person=person.person)
    entries = [
        {
            "step": s["step"],
            "status": s["status"],
            "at": s["at"],
            "by": names.get(s["actor"]) if s["actor"] else None,
            "detail": s["detail"] or {},
        }
        for s in reversed(steps)
    ]
    return web.render(request, "timeline.html", {"item": item, "entries": entries}, person=person)
