"""The referrer's webhook endpoints (contract: "The referrer's webhook"): ``PUT``, ``GET``
and ``DELETE /v1/webhook`` for the clients that may read ``GET /v1/status-changes``. Thin:
each maps to ``handlers.referrer_webhook`` for the caller (its token's subject)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Response

from schemas import webhook_api
from schemas.refusals import NotFound
from services.plumbing.answers import typed_router
from services.plumbing.auth import Principal, allow
from services.plumbing.openapi import problems
from services.referral_intake.entrypoints.authorization import ACCESS
from services.referral_intake.handlers import referrer_webhook
from services.referral_intake.handlers.referrer_webhook import Referrers

router = typed_router()

MayRegister = Annotated[Principal, allow(ACCESS, "PUT /v1/webhook")]
MayReadWebhook = Annotated[Principal, allow(ACCESS, "GET /v1/webhook")]
MayRemove = Annotated[Principal, allow(ACCESS, "DELETE /v1/webhook")]
NO_WEBHOOK = "No webhook is registered for you."


def _referrers(request: Request) -> Referrers:
    found: Referrers = request.app.state.referrers
    return found


@router.put("/v1/webhook", response_model=webhook_api.WebhookRegistered, responses=problems(422))
async def register_webhook(
    body: webhook_api.WebhookIn, request: Request, principal: MayRegister
) -> Any:
    """Push each status change of the referrals you submit to this URL, as
    ``GET /v1/status-changes`` shows it (``{"type": "referral.status_changed", "timestamp":
    "…", "data": <a feed item>}``), signed with the secret in the answer (Standard
    Webhooks). Registering again makes a new secret; the same URL registered again is a
    rotation without downtime: the previous secret keeps signing beside the new one
    (``webhook-signature: v1,<new> v1,<old>``) until ``previous_secret_valid_until``.
    Registering also enables a webhook its receiver had disabled by answering 410 Gone; a
    new URL (or a disabled one) receives the changes recorded from then on.

    The URL must be https and lead to a public address (not loopback, private, link-local,
    shared, multicast or reserved, nor the hub itself), on a host the operators allow;
    otherwise 422 names the rule (``errors[0].rule``) and nothing is stored. It is checked
    again before every delivery."""
    return await referrer_webhook.register(_referrers(request), principal.subject, str(body.url))


@router.get("/v1/webhook", response_model=webhook_api.Webhook, responses=problems(404))
async def get_webhook(request: Request, principal: MayReadWebhook) -> Any:
    """Your webhook (never its secret): its URL, since when, whether the hub refused to call
    it at delivery and why (``refused``), whether its receiver disabled it (``disabled``:
    reason ``gone``: it answered 410 Gone; register it again to enable it), until when its
    receiver asked for a pause (``paused_until``), until when the previous secret still
    signs, and its deliveries since registration by state."""
    found = await referrer_webhook.status(_referrers(request), principal.subject)
    if found is None:
        raise NotFound(NO_WEBHOOK)
    return found


@router.delete("/v1/webhook", status_code=204, responses=problems(404))
async def remove_webhook(request: Request, principal: MayRemove) -> Response:
    """Stop pushing; deliveries not yet made are abandoned (the feed still has them)."""
    if not await referrer_webhook.unregister(_referrers(request), principal.subject):
        raise NotFound(NO_WEBHOOK)
    return Response(status_code=204)
