"""Server settings: environment variables ``STRONGROOM_*``, each also a flag of ``serve``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from strongroom.store.database import DEFAULT_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRONGROOM_", extra="ignore")

    database_url: str = DEFAULT_URL
    admin_token: str | None = Field(None, description="Bearer token of the platform admin")
    host: str = "127.0.0.1"
    port: int = 8000
    nats_url: str | None = None
    webhook_allowed_hosts: str = ""
    max_body_bytes: int = Field(1_048_576, description="Larger request bodies get 413")
    expiry_interval_seconds: float = Field(
        1.0, description="How often the server expires holds past their deadline; 0: never"
    )
