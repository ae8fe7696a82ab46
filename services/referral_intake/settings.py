from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.plumbing.webhooks import WebhookSettings


class IntakeSettings(WebhookSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    db_schema: str = "intake"
    http_port: int = 8080
    router_url: str = Field(
        description="the router's address, e.g. http://router:8090, for explanations and "
        "simulations; no default, because staff tokens are forwarded there and must reach "
        "this hub's own router, never whatever listens on a fixed local port"
    )
    identity_hash_key: str = Field(
        min_length=32,
        description="Secret for the keyed hashes that match people and crimes (duplicates, "
        "repeat victims). Keep it stable: changing it forgets every earlier match.",
    )
    vault_keys: dict[str, str] = Field(
        description='The vault\'s AES-256 keys, base64, by id: {"2026-1": "...", "2027-1": "..."}. '
        "Keep retired keys until `python -m services.referral_intake rotate-vault` has re-sealed "
        "what they sealed."
    )
    vault_key_id: str = Field(description="The id of the key new entries are sealed with.")
    retention_days: int = Field(
        default=730, gt=0, description="Personal data of referrals closed longer ago is erased."
    )
    report_suppression_threshold: int = Field(
        default=10,
        ge=2,
        le=100,
        description="The published edition of the commissioner's report suppresses every count "
        "of people below this (with secondary suppression so that none can be worked out from "
        "the totals). 10: the SDAP handbook's threshold for frequency tables.",
    )
    status_feed_settle_seconds: float = Field(
        default=5.0,
        ge=0,
        description="GET /v1/status-changes shows a change once this long has passed since "
        "intake recorded it, so that one recorded by a transaction still running is never "
        "skipped by a reader who has moved past it.",
    )
    watchdog_interval_seconds: float = Field(default=15.0, gt=0)
    resubmission_decision_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long the answer to a resubmission waits for the router's new "
        "decision, to say what it was; past it the answer names the decision id only.",
    )
    reconcile_after_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a referral may wait for its next event before "
        "intake re-drives it (the wait doubles on each attempt, up to 15 minutes).",
    )
