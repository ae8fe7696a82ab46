"""The provider API (contract: "Provider API"). A key reaches only this adapter's service;
anything about a referral not routed here answers 404, as for one that does not exist."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from schemas import outcome_measures, webhook_api
from schemas.codes import (
    TERMINAL_ROUTE_STATUSES,
    ContactChannel,
    ContactResult,
    OutcomeStatus,
    RejectionReason,
    RouteStatus,
    Service,
)
from schemas.refusals import NotFound
from schemas.requests import EACH_ONCE, Code, RequestBody, field_errors
from services.plumbing.answers import typed_router
from services.plumbing.auth import Principal, Unauthenticated, bearer_challenge
from services.plumbing.guard import bearer_credential, principal_of
from services.plumbing.http import problem
from services.plumbing.openapi import problems
from services.provider_adapter.adapters.intake_client import (
    ContactUnavailable,
    ContactWithdrawn,
    VaultUnreachable,
)
from services.provider_adapter.entrypoints import answers
from services.provider_adapter.handlers import keys, webhooks, work_items
from services.provider_adapter.handlers.common import Adapter, Gone

router = typed_router()

NOT_FOUND = "No referral with that id is in your queue."
NO_WEBHOOK = "No webhook is registered."
ERASED = (
    "This referral is no longer with you: its personal data was erased at the hub, so "
    "nothing more can be recorded on it."
)


class Acknowledgement(RequestBody):
    # The rule below in the published schema too: a rejection names its reason.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"decision": {"const": "rejected"}}},
            "then": {"required": ["reason"], "properties": {"reason": {"not": {"type": "null"}}}},
        }
    )

    decision: Literal["accepted", "rejected"]
    reason: RejectionReason | None = None
    note: Annotated[str, Field(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> Acknowledgement:
        if self.decision == "rejected" and self.reason is None:
            raise field_errors((("reason",), "is required when the decision is rejected"))
        return self


class ContactAttemptIn(RequestBody):
    at: AwareDatetime = Field(
        description="When it was made: not in the future, nor before the referral was requested "
        "from your service (5 minutes' grace)"
    )
    channel: ContactChannel
    result: ContactResult

    @field_validator("at")
    @classmethod
    def _not_in_future(cls, at: datetime) -> datetime:
        if at > datetime.now(UTC) + timedelta(minutes=5):
            raise ValueError("is in the future")
        return at


Measures = Annotated[
    dict[Code, bool | Code | None], Field(max_length=outcome_measures.most_measures())
]


class OutcomeIn(RequestBody):
    status: OutcomeStatus
    reason: Annotated[str, Field(max_length=500)] | None = None
    measures: Measures = {}


def outcome_of(service: Service) -> type[OutcomeIn]:
    """``OutcomeIn`` as ``service``'s API publishes it: its ``measures`` are the ones that
    service reports (``schemas.outcome_measures.json_schema``). Read as ``OutcomeIn`` is;
    the measures are checked against the service by ``work_items.record_outcome``."""
    published = Annotated[Measures, WithJsonSchema(outcome_measures.json_schema(service))]
    return create_model("OutcomeIn", __base__=OutcomeIn, measures=(published, {}))


class KeyIn(RequestBody):
    label: Annotated[str, Field(min_length=1, max_length=80)] = "rotated"


MAX_KEY_LENGTH = 200
"""Provider keys are ``pk_<service>_`` and 43 characters; anything much longer is not one
(and is not hashed: credentials a client sends are bounded)."""
KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-.~+/=]+")
PROVIDER_ROLE = "provider"


async def authenticate_provider(app: Any, credential: str) -> Principal:
    """The request guard's check of a provider key (``guard.Authenticate``): a key of this
    adapter's service that has not been retired."""
    if len(credential) > MAX_KEY_LENGTH or not KEY_SHAPE.fullmatch(credential):
        raise Unauthenticated("malformed", "This is not a provider key.")
    adapter: Adapter = app.state.adapter
    if not await keys.key_is_active(adapter, credential):
        raise Unauthenticated("invalid", "This provider key is not recognised.")
    return Principal(
        subject=f"provider:{adapter.service.value}",
        roles=frozenset({PROVIDER_ROLE}),
        service=adapter.service.value,
    )


async def provider(request: Request) -> Adapter:
    """The adapter, for a request made with one of its provider's keys. The request guard
    checked the key before the body was read; without it (an app built another way), it is
    checked here."""
    principal = principal_of(request.scope)
    if principal is None:
        try:
            credential = bearer_credential(request.scope, MAX_KEY_LENGTH)
            principal = await authenticate_provider(request.app, credential)
        except Unauthenticated as refused:
            raise HTTPException(
                status_code=401,
                detail=refused.sentence,
                headers={"WWW-Authenticate": refused.challenge},
            ) from None
    if PROVIDER_ROLE not in principal.roles:
        raise HTTPException(
            status_code=401,
            detail="This provider key is not recognised.",
            headers={
                "WWW-Authenticate": bearer_challenge(
                    "invalid_token", "This provider key is not recognised."
                )
            },
        )
    adapter: Adapter = request.app.state.adapter
    return adapter


Provider = Annotated[Adapter, Depends(provider)]

OPEN_STATUSES = [s.value for s in RouteStatus if s not in TERMINAL_ROUTE_STATUSES]


@router.get("/v1/queue", response_model=answers.Queue, responses=problems(400))
async def get_queue(
    adapter: Provider,
    status: Annotated[
        list[RouteStatus] | None, Query(max_length=len(RouteStatus)), EACH_ONCE
    ] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Most urgent first, then oldest first. Without ``status``, every open item."""
    statuses = [s.value for s in status] if status else OPEN_STATUSES
    after = work_items.decode_cursor(adapter, cursor) if cursor else None
    rows = await work_items.queue(adapter, statuses=statuses, after=after, limit=limit + 1)
    page = rows[:limit]
    return {
        "items": [work_items.queue_item(r) for r in page],
        "next_cursor": work_items.encode_cursor(adapter, page[-1]) if len(rows) > limit else None,
    }


@router.get("/v1/referrals/{referral_id}", response_model=answers.WorkItem, responses=problems(410))
async def get_referral(referral_id: uuid.UUID, adapter: Provider) -> Any:
    try:
        return await work_items.read_work_item(adapter, referral_id)
    except (Gone, ContactWithdrawn):
        return problem(
            410,
            "Gone",
            "This referral is no longer with you; its contact details are not disclosed.",
        )
    except ContactUnavailable:
        return problem(
            503,
            "Service unavailable",
            "The contact details are not available yet; try again in a few seconds.",
            headers={"Retry-After": "2"},
        )
    except VaultUnreachable:
        return problem(
            503,
            "Service unavailable",
            "The referral record is unreachable; try again shortly.",
            headers={"Retry-After": "5"},
        )


A_STEP: dict[str, Any] = {"response_model": answers.StepRecorded, "responses": problems(409, 410)}
"""What a step on a work item answers: its new status, or why it cannot be taken."""


async def _guarded(call: Awaitable[Any]) -> Any:
    """A step on a work item, with the answers its own failures get (``NotFound`` and
    every ``Refused``, a transition not allowed or a contact standard not met among them,
    are answered where every service answers them: ``services.plumbing.http``)."""
    try:
        return await call
    except Gone:
        return problem(410, "Gone", ERASED)
    except work_items.InvalidMeasures as exc:
        return problem(
            422,
            "Invalid request",
            "Some outcome measures are not ones this service reports.",
            errors=exc.errors,
        )
    except ContactUnavailable:
        # A note is kept in intake's vault, which has not heard of this route yet.
        return problem(
            503,
            "Service unavailable",
            "The referral record is not ready for your note yet; nothing was stored. "
            "Try again in a few seconds.",
            headers={"Retry-After": "2"},
        )
    except VaultUnreachable:
        return problem(
            503,
            "Service unavailable",
            "The referral record is unreachable, so your note cannot be kept; nothing was "
            "stored. Try again shortly.",
            headers={"Retry-After": "5"},
        )


@router.post("/v1/referrals/{referral_id}/acknowledge", **A_STEP)
async def acknowledge(referral_id: uuid.UUID, body: Acknowledgement, adapter: Provider) -> Any:
    return await _guarded(
        work_items.acknowledge(
            adapter,
            referral_id,
            accepted=body.decision == "accepted",
            reason=body.reason,
            note=body.note,
        )
    )


@router.post("/v1/referrals/{referral_id}/contact-attempts", **A_STEP)
async def contact_attempt(referral_id: uuid.UUID, body: ContactAttemptIn, adapter: Provider) -> Any:
    return await _guarded(work_items.record_contact_attempt(adapter, referral_id, **dict(body)))


async def outcome(referral_id: uuid.UUID, body: OutcomeIn, adapter: Provider) -> Any:
    return await _guarded(work_items.record_outcome(adapter, referral_id, **dict(body)))


def outcome_router(service: Service) -> APIRouter:
    """``POST /v1/referrals/{referral_id}/outcome`` for ``service``'s adapter: a route of
    its own, so that the body's published schema names that service's measures."""
    signature = inspect.signature(outcome)
    body = outcome_of(service)

    async def endpoint(referral_id: uuid.UUID, body: OutcomeIn, adapter: Provider) -> Any:
        return await outcome(referral_id, body, adapter)

    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(annotation=body) if p.name == "body" else p
            for p in signature.parameters.values()
        ]
    )
    routes = typed_router()
    routes.add_api_route(
        "/v1/referrals/{referral_id}/outcome", endpoint, methods=["POST"], name="outcome", **A_STEP
    )
    return routes


@router.put("/v1/webhook", response_model=webhook_api.WebhookRegistered)
async def register_webhook(body: webhook_api.WebhookIn, adapter: Provider) -> Any:
    """Push new work items (and cancellations and reminders) to this URL, signed with the
    secret in the answer (Standard Webhooks). Registering again makes a new secret; the same
    URL registered again is a rotation without downtime: the previous secret keeps signing
    beside the new one (``webhook-signature: v1,<new> v1,<old>``) until
    ``previous_secret_valid_until``. Registering also enables a webhook its receiver had
    disabled by answering 410 Gone.

    The URL must be https and lead to a public address (not loopback, private, link-local,
    shared, multicast or reserved, nor the hub itself), on a host the operators allow;
    otherwise 422 names the rule (``errors[0].rule``) and nothing is stored. It is checked
    again before every delivery."""
    return await webhooks.register(adapter, str(body.url))


@router.get("/v1/webhook", response_model=webhook_api.Webhook, responses=problems(404))
async def get_webhook(adapter: Provider) -> Any:
    """The registered webhook (never its secret): its URL, since when, whether the hub
    refused to call it at delivery and why (``refused``: rule, detail, at), whether its
    receiver disabled it (``disabled``: reason ``gone``, detail, at: it answered 410 Gone;
    register it again to enable it), until when its receiver asked for a pause
    (``paused_until``: a 429/503 ``Retry-After``, or a 502/504's backoff), until when the
    previous secret still signs (``previous_secret_valid_until``), and its deliveries since
    registration by state."""
    found = await webhooks.status(adapter)
    if found is None:
        raise NotFound(NO_WEBHOOK)
    return found


@router.delete("/v1/webhook", status_code=204, responses=problems(404))
async def remove_webhook(adapter: Provider) -> Response:
    if not await webhooks.unregister(adapter):
        raise NotFound(NO_WEBHOOK)
    return Response(status_code=204)


@router.get("/v1/keys", response_model=answers.Keys)
async def list_keys(adapter: Provider) -> Any:
    return await keys.list_keys(adapter)


@router.post("/v1/keys", status_code=201, response_model=answers.KeyAdded, responses=problems(409))
async def add_key(adapter: Provider, body: KeyIn | None = None) -> Any:
    """A second key, shown once. Both work until you retire the old one."""
    return await keys.add_key(adapter, (body or KeyIn()).label)


@router.delete("/v1/keys/{key_id}", status_code=204, responses=problems(409))
async def retire_key(key_id: uuid.UUID, adapter: Provider) -> Response:
    await keys.retire_key(adapter, key_id)
    return Response(status_code=204)
