from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.plumbing.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    db_schema: str = "intake"
    http_port: int = 8080
    router_url: str = "http://127.0.0.1:8090"
