"""Settings read from the environment (app settings in Azure, local.settings.json under `func start`),
and the names of the resources the bindings and the code share."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

# Names shared by function_app.py's bindings, the composition root, and later the Bicep and emulator config.
COSMOS_CONNECTION = "COSMOS_CONNECTION"
EVENTHUB_CONNECTION = "EVENTHUB_CONNECTION"
COSMOS_DATABASE = "eventbank"
LEASES_CONTAINER = "leases"
SNAPSHOTS_CONTAINER = "snapshots"
READMODELS_CONTAINER = "readmodels"
KEYS_CONTAINER = "keys"  # data subjects' keys (crypto-shredding): infra/app/sealing.py
# Each service's own names (events container, hub, consumer group, lease prefix setting) are in its
# definition: infra/entry/services.py.

ENV_PREFIX = "EVENTBANK_"


class SettingsError(Exception):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # None: "azure" when a Cosmos DB connection is configured, else "embedded"
    backend: Literal["embedded", "azure"] | None = None
    data_dir: Path = Path(".data")
    hub_partitions: int = Field(default=4, ge=1, le=32)
    snapshot_every: int = Field(default=100, ge=1)
    state_cache_size: int = Field(default=10_000, ge=0)
    cosmos_database: str = Field(default=COSMOS_DATABASE, min_length=1)
    # how long a query with ?min_version waits for the read model to catch up before answering stale
    min_version_wait_seconds: float = Field(default=2.0, ge=0, le=30)
    # how many deliveries of a poison event fail before its stream is parked in the dead letters
    poison_attempts: int = Field(default=3, ge=1, le=100)
    # how long a worker keeps a read model's generation pointer; a rebuild waits this long at each switch
    generation_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # the request units per second a rebuild of a read model may spend on Cosmos DB (its writers pause
    # when ahead of it; the rest of the read models container's throughput stays with live traffic)
    rebuild_request_units: float = Field(default=1_000, ge=50, le=1_000_000)
    # how long a transfer waits for its pending step before it gives up on it (debit, credit) or asks
    # for it again (reversal); the timer looks every TRANSFER_SWEEP seconds (transfers_api.py)
    transfer_timeout_seconds: float = Field(default=60.0, ge=0, le=86_400)
    # enforced: every route but health serves signed-in callers only (App Service Authentication), each
    # to what is theirs (infra/entry/identity.py); off: an open demo, everyone may do everything
    authorization: Literal["enforced", "off"] = "enforced"
    # who puts the identity headers on a request: "platform", App Service Authentication (trusted only
    # when the platform says it is on); "local", a local host playing it (the dev host, the tests)
    identity_headers: Literal["platform", "local"] = "platform"


@dataclass(frozen=True)
class Connection:
    """How to reach one Azure service, from the same settings the trigger bindings read.

    The exact-match setting (`COSMOS_CONNECTION`) is a connection string (the emulators, locally);
    otherwise `<NAME>__accountEndpoint` / `<NAME>__fullyQualifiedNamespace` names the service, reached
    with the managed identity (DefaultAzureCredential, which honours AZURE_CLIENT_ID).
    """

    setting: str
    connection_string: str | None = None
    endpoint: str | None = None


def cosmos_connection(env: Mapping[str, str]) -> Connection:
    return _connection(env, COSMOS_CONNECTION, "accountEndpoint", _check_cosmos)


def eventhub_connection(env: Mapping[str, str]) -> Connection:
    return _connection(env, EVENTHUB_CONNECTION, "fullyQualifiedNamespace", _check_eventhub)


def azure_configured(env: Mapping[str, str]) -> bool:
    return any(name == COSMOS_CONNECTION or name.startswith(f"{COSMOS_CONNECTION}__") for name in env)


def _connection(
    env: Mapping[str, str], name: str, endpoint_key: str, check: Callable[[str, str, bool], None]
) -> Connection:
    if value := env.get(name, "").strip():
        check(name, value, True)
        return Connection(name, connection_string=value)
    endpoint_setting = f"{name}__{endpoint_key}"
    if value := env.get(endpoint_setting, "").strip():
        check(endpoint_setting, value, False)
        return Connection(name, endpoint=value)
    raise SettingsError(f"missing setting: set {name} (a connection string) or {endpoint_setting}")


def _check_cosmos(setting: str, value: str, is_connection_string: bool) -> None:
    if is_connection_string:
        parts = _parts(value)
        if not parts.get("accountendpoint", "").startswith(("https://", "http://")) or not parts.get(
            "accountkey"
        ):
            raise SettingsError(f"{setting} must look like AccountEndpoint=https://...;AccountKey=...;")
    elif not value.startswith("https://"):
        raise SettingsError(f"{setting} must be the account's https:// endpoint, not {value[:40]!r}")


def _check_eventhub(setting: str, value: str, is_connection_string: bool) -> None:
    if is_connection_string:
        if not _parts(value).get("endpoint", "").startswith("sb://"):
            raise SettingsError(f"{setting} must look like Endpoint=sb://...;SharedAccessKeyName=...;")
    elif "://" in value or "/" in value or "." not in value:
        raise SettingsError(f"{setting} must be a host name such as <namespace>.servicebus.windows.net")


def _parts(connection_string: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def load_settings() -> Settings:
    """The settings, or a SettingsError that names each missing or malformed setting."""
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{ENV_PREFIX}{str(detail['loc'][0]).upper()}: {detail['msg']}" for detail in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
    if settings.backend is None:
        backend: Literal["embedded", "azure"] = "azure" if azure_configured(os.environ) else "embedded"
        settings = settings.model_copy(update={"backend": backend})
    return settings


def load_local_settings(path: Path) -> bool:
    """Load the Values of a local.settings.json into the environment, unless it already sets them (as
    func start does); False if there is no such file."""
    if not path.exists():
        return False
    for name, value in json.loads(path.read_text()).get("Values", {}).items():
        os.environ.setdefault(name, str(value))
    return True
