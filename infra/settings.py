"""Settings read from the environment (app settings in Azure, local.settings.json under `func start`),
and the names of the resources the bindings and the code share."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

# Names shared by function_app.py's bindings, the composition root, and later the Bicep and emulator config.
COSMOS_CONNECTION = "COSMOS_CONNECTION"
EVENTHUB_CONNECTION = "EVENTHUB_CONNECTION"
COSMOS_DATABASE = "eventbank"
LEASES_CONTAINER = "leases"
ACCOUNTS_EVENTS_CONTAINER = "accounts-events"
ACCOUNTS_RELAY_LEASE_PREFIX = "accounts-relay-"
ACCOUNTS_HUB = "accounts"
ACCOUNTS_READMODELS_CONSUMER_GROUP = "accounts-readmodels"
ACCOUNTS_SOURCE = "/eventbank/accounts"

ENV_PREFIX = "EVENTBANK_"


class SettingsError(Exception):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    backend: Literal["embedded"] = "embedded"
    data_dir: Path = Path(".data")
    hub_partitions: int = Field(default=4, ge=1, le=32)
    snapshot_every: int = Field(default=100, ge=1)
    state_cache_size: int = Field(default=10_000, ge=0)


def load_settings() -> Settings:
    """The settings, or a SettingsError that names each missing or malformed setting."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{ENV_PREFIX}{str(detail['loc'][0]).upper()}: {detail['msg']}" for detail in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
