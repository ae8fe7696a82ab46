"""What the provider API answers, typed (contract: "Provider API"; ``schemas.answers``
says how a model types an answer without changing it)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from schemas.answers import Answer, Moment


class ContactChangedMarker(Answer):
    at: Moment
    fields: list[str]


class QueueItem(Answer):
    """A work item as its provider's queue shows it: coded facts, no contact details."""

    referral_id: uuid.UUID
    route_id: uuid.UUID
    service: str
    sub_service: str | None
    priority: str
    status: str
    requested_at: Moment
    acknowledge_by: Moment
    contact_due_by: Moment
    code_deadline: Moment
    reason: str | None
    rule_ids: list[str]
    flags: list[str]
    consent_basis: str | None
    facts: dict[str, Any] | None
    contact_changed: ContactChangedMarker | None = Field(
        description="The person's details changed since this provider last read them: "
        "read them again before contacting the person (null once read)"
    )


class Queue(Answer):
    items: list[QueueItem]
    next_cursor: str | None = Field(description="Ask again with it for the next page")


class ContactAttempt(Answer):
    at: Moment
    channel: str
    result: str


class WorkItem(QueueItem):
    """A work item with its contact attempts, its progress against the service's contact
    standard, its outcome and the person's contact details (each read is logged)."""

    contact_attempts: list[ContactAttempt]
    contact_standard: dict[str, Any]
    outcome: dict[str, Any] | None
    contact: dict[str, Any]


class StepRecorded(Answer):
    referral_id: uuid.UUID
    route_id: uuid.UUID
    status: str


class Key(Answer):
    key_id: uuid.UUID
    prefix: str | None = Field(description="The key's first characters, to tell keys apart")
    label: str
    created_at: Moment
    last_used_at: Moment | None


class Keys(Answer):
    keys: list[Key]


class KeyAdded(Key):
    key: str = Field(description="Shown once")
