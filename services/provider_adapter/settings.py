from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from schemas.codes import Service
from services.plumbing.outbound import Endpoint, endpoint_of_url
from services.plumbing.settings import comma_list
from services.plumbing.webhooks import WebhookSettings


class AdapterSettings(WebhookSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    service: Service = Field(description="The provider service this adapter serves, e.g. IDVA.")
    http_port: int = 8081
    intake_url: str = Field(
        description="intake's address, e.g. http://referral-intake:8080, for the vault; no "
        "default, because the adapter's service token is sent there and must reach this "
        "hub's own intake, never whatever listens on a fixed local port"
    )
    intake_service_token: str = Field(
        description="Bearer token (role 'service', claim service=<SERVICE>) for intake's vault."
    )
    provider_key_sha256: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="SHA-256 hashes of this provider's API keys, added at start if missing.",
    )
    allowed_facts: Annotated[list[str], NoDecode] | None = Field(
        default=None,
        description="Coded facts this provider may see; default: its entry in "
        "schemas/data_sharing.json. Anything else in a work item is dropped.",
    )

    # ---- the provider portal (entrypoints/portal) ----------------------------------------
    portal_secret_key: SecretStr = Field(
        description="At least 32 random bytes (e.g. 64 hex digits) that sign the portal's "
        "form tokens and seal its people's TOTP secrets. The same on every replica; keep it "
        "with the database's backups (losing it means everyone enrols their authenticator "
        "again).",
        min_length=32,
    )
    portal_cookie_secure: bool = Field(
        default=True,
        description="Session cookies only over HTTPS (the __Host- prefix). Off only for the "
        "local stack, which serves http://127.0.0.1.",
    )
    portal_public_url: str | None = Field(
        default=None,
        description="The portal's public base URL (https://idva.hub.example), for the "
        "invitation links administrators hand out; default: the URL the request came to.",
    )
    portal_idle_minutes: float = Field(
        default=30, gt=0, description="A session with no request for this long ends."
    )
    portal_session_hours: float = Field(
        default=12, gt=0, description="A session ends this long after sign-in, however busy."
    )
    portal_lockout_attempts: int = Field(
        default=5, ge=1, description="Failed sign-ins in a row (password or code) that lock."
    )
    portal_lockout_minutes: float = Field(default=15, gt=0)
    portal_invitation_hours: float = Field(
        default=72, gt=0, description="How long an invitation link works."
    )
    portal_page_size: int = Field(default=25, ge=1, le=200)

    _split_keys = field_validator("provider_key_sha256", mode="before")(comma_list)
    _split_facts = field_validator("allowed_facts", mode="before")(comma_list)

    def development_defaults(self) -> list[str]:
        problems = super().development_defaults()
        if not self.portal_cookie_secure:
            problems.append("PORTAL_COOKIE_SECURE is off: portal sessions would travel over http")
        return problems

    def own_endpoints(self) -> list[Endpoint]:
        return [*super().own_endpoints(), *endpoint_of_url(self.intake_url)]

    @property
    def db_schema(self) -> str:
        return schema_for(self.service)


def schema_for(service: Service) -> str:
    """Each provider's adapter keeps its work in its own schema."""
    return f"adapter_{service.value.lower()}"
