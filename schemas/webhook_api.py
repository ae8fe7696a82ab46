"""The webhook API's shapes, the same on every service that pushes to a client's URL (the
provider adapters' ``/v1/webhook`` for new work items, intake's for the referrer's status
changes; ``docs/contract.md``): what a client registers and what it is told back."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyUrl, Field, UrlConstraints

from schemas.answers import Answer, Moment
from schemas.requests import RequestBody


class WebhookIn(RequestBody):
    url: Annotated[AnyUrl, UrlConstraints(max_length=2000)]


class WebhookRegistered(Answer):
    url: str
    secret: str = Field(
        description="``whsec_<base64>``, shown once: verify each delivery's signature with it "
        "(any Standard Webhooks library)"
    )
    previous_secret_valid_until: Moment | None


class WebhookRefusal(Answer):
    rule: str
    detail: str
    at: Moment


class WebhookDisabled(Answer):
    reason: str
    detail: str
    at: Moment


class Webhook(Answer):
    url: str
    registered_at: Moment
    refused: WebhookRefusal | None
    disabled: WebhookDisabled | None
    paused_until: Moment | None
    previous_secret_valid_until: Moment | None
    deliveries: dict[str, int] = Field(description="Deliveries since registration, by state")
