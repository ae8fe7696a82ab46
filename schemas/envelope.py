"""CloudEvents 1.0 structured-mode envelope, one model for every event on the bus."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Consumers ignore fields they do not know, so that a producer can add fields without a
# new version. Producers cannot add unknown fields by mistake: the pydantic mypy plugin
# is configured with init_forbid_extra. Errors never echo input, whatever it holds.
EVENT_MODEL_CONFIG = ConfigDict(extra="ignore", hide_input_in_errors=True, frozen=True)


class EventData(BaseModel):
    model_config = EVENT_MODEL_CONFIG


DataT = TypeVar("DataT", bound=EventData)


class CloudEvent(BaseModel, Generic[DataT]):
    model_config = EVENT_MODEL_CONFIG

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str
    type: str
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str
    """The referral id: never anything personal (CloudEvents privacy guidance)."""
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT


def envelope(*, source: str, type_: str, subject: uuid.UUID, data: EventData) -> dict[str, Any]:
    """A ready-to-serialise envelope (as a JSON-compatible dict) for ``data``."""
    event: CloudEvent[Any] = CloudEvent(source=source, type=type_, subject=str(subject), data=data)
    return event.model_dump(mode="json")
