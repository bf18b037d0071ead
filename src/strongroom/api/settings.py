"""Server settings: environment variables ``STRONGROOM_*``, each also a flag of ``serve``.

``strongroom worker`` reads the same variables.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from strongroom.store.database import DEFAULT_URL

AWAIT_DATABASE_SECONDS = 2.0
"""How often a server whose database did not answer at start tries it again."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRONGROOM_", extra="ignore")

    database_url: str = DEFAULT_URL
    admin_token: str | None = Field(None, description="Bearer token of the platform admin")
    host: str = "127.0.0.1"
    port: int = 8000
    nats_url: str | None = Field(None, description="NATS server of JetStream; unset: no NATS")
    nats_stream: str = Field("STRONGROOM", description="The JetStream stream events go to")
    nats_subject_prefix: str = Field(
        "strongroom", description="Subjects are <prefix>.<tenant>.<event type>"
    )
    webhook_allowed_hosts: str = Field(
        "",
        description="Hosts or CIDRs webhook URLs may reach although loopback or private",
    )
    max_body_bytes: int = Field(1_048_576, description="Larger request bodies get 413")
    read_threads: int = Field(
        8,
        ge=1,
        le=256,
        description="Reads of the ledger a server process runs at once, each in a thread; "
        "more wait their turn",
    )
    expiry_interval_seconds: float = Field(
        1.0, description="How often the server expires holds past their deadline; 0: never"
    )
    await_database: bool = Field(
        False,
        description="The database did not answer when `strongroom serve` started: migrate it "
        "(and make the first tenant of an empty one) once it does; /readyz answers 503 until then",
    )
    worker: bool = Field(
        True,
        description="Run the event relay and the integrity jobs inside the server "
        "(turn off when `strongroom worker` processes do it)",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="Bound on one webhook attempt, connection included"
    )
    relay_lease_seconds: float = Field(
        60.0, gt=0, description="How long a claimed delivery is a worker's before another retries"
    )
    poll_interval_seconds: float = Field(
        0.5, gt=0, description="How long an idle worker waits before looking for work again"
    )
    reconcile_interval_seconds: float = Field(
        3600.0,
        ge=0,
        description="How often the worker checks every chain and its balances; 0: never",
    )
    checkpoint_interval_seconds: float = Field(
        3600.0, ge=0, description="How often the worker signs a checkpoint; 0: never"
    )
    tune_gc: bool = Field(
        False,
        description="Tune the garbage collector for a server process of its own: freeze "
        "what startup made and collect young objects less often (`strongroom serve` sets it)",
    )
    signing_key_path: Path | None = Field(
        None, description="Ed25519 key of checkpoints; unset: the worker signs none"
    )
