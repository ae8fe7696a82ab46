from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.plumbing.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    db_schema: str = "intake"
    http_port: int = 8080
    router_url: str = "http://127.0.0.1:8090"
    identity_hash_key: str = Field(
        min_length=32,
        description="Secret for the keyed hashes that match people and crimes (duplicates, "
        "repeat victims). Keep it stable: changing it forgets every earlier match.",
    )
    watchdog_interval_seconds: float = Field(default=15.0, gt=0)
    reconcile_after_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a referral may wait for its next event before "
        "intake re-drives it (the wait doubles on each attempt, up to 15 minutes).",
    )
