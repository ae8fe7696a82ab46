from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from schemas.codes import Service
from services.plumbing.settings import ServiceSettings


class AdapterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    service: Service = Field(description="The provider service this adapter serves, e.g. IDVA.")
    http_port: int = 8081
    intake_url: str = "http://127.0.0.1:8080"
    intake_service_token: str = Field(
        description="Bearer token (role 'service', claim service=<SERVICE>) for intake's vault."
    )
    provider_key_sha256: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="SHA-256 hashes of this provider's API keys, added at start if missing.",
    )

    @field_validator("provider_key_sha256", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @property
    def db_schema(self) -> str:
        return f"adapter_{self.service.value.lower()}"
