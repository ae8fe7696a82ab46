from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.plumbing.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    db_schema: str = "router"
    http_port: int = 8090
