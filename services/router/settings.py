from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.plumbing.settings import ServiceSettings

POLICY_DIR = Path(__file__).resolve().parent / "policy"


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    db_schema: str = "router"
    http_port: int = 8090
    policy_dir: Path = Field(default=POLICY_DIR, description="Directory of policy versions.")


class SimulationSettings(BaseSettings):
    """What the ``simulate`` command needs: it reads the decision log and serves nothing,
    so none of a service's secrets or production checks apply."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    database_url: str = Field(description="postgresql://user@host:port/database")
    db_schema: str = "router"
    policy_dir: Path = Field(default=POLICY_DIR, description="Directory of policy versions.")
