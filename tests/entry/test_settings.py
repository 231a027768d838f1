from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infra.entry.settings import SettingsError, cosmos_connection, eventhub_connection, load_settings

REPO = Path(__file__).resolve().parents[2]
EMULATOR_COSMOS = "AccountEndpoint=https://localhost:8081/;AccountKey=a2V5;"
EMULATOR_HUB = "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=x;"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("EVENTBANK_", "COSMOS_CONNECTION", "EVENTHUB_CONNECTION")):
            monkeypatch.delenv(name)


def test_with_nothing_azure_configured_the_backend_is_embedded() -> None:
    settings = load_settings()

    assert settings.backend == "embedded"
    assert settings.data_dir == Path(".data")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COSMOS_CONNECTION", EMULATOR_COSMOS),
        ("COSMOS_CONNECTION__accountEndpoint", "https://acct.documents.azure.com"),
    ],
)
def test_a_configured_cosmos_connection_selects_the_azure_backend(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    assert load_settings().backend == "azure"


def test_an_explicit_backend_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSMOS_CONNECTION", EMULATOR_COSMOS)
    monkeypatch.setenv("EVENTBANK_BACKEND", "embedded")

    assert load_settings().backend == "embedded"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENTBANK_BACKEND", "oracle"),
        ("EVENTBANK_HUB_PARTITIONS", "0"),
        ("EVENTBANK_SNAPSHOT_EVERY", "often"),
    ],
)
def test_a_malformed_setting_fails_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_a_connection_string_is_used_as_is_when_the_exact_setting_exists() -> None:
    connection = cosmos_connection(
        {"COSMOS_CONNECTION": EMULATOR_COSMOS, "COSMOS_CONNECTION__accountEndpoint": "x"}
    )

    assert (connection.connection_string, connection.endpoint) == (EMULATOR_COSMOS, None)


def test_identity_based_connections_name_the_endpoint_and_namespace() -> None:
    cosmos = cosmos_connection(
        {"COSMOS_CONNECTION__accountEndpoint": "https://acct.documents.azure.com:443/"}
    )
    hub = eventhub_connection({"EVENTHUB_CONNECTION__fullyQualifiedNamespace": "ns.servicebus.windows.net"})

    assert cosmos.endpoint == "https://acct.documents.azure.com:443/"
    assert hub.endpoint == "ns.servicebus.windows.net"
    assert cosmos.connection_string is None
    assert hub.connection_string is None


def test_a_missing_connection_names_both_ways_to_set_it() -> None:
    with pytest.raises(SettingsError, match="EVENTHUB_CONNECTION__fullyQualifiedNamespace"):
        eventhub_connection({})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COSMOS_CONNECTION": "AccountKey=abc;"}, "COSMOS_CONNECTION"),
        (
            {"COSMOS_CONNECTION__accountEndpoint": "acct.documents.azure.com"},
            "COSMOS_CONNECTION__accountEndpoint",
        ),
    ],
)
def test_a_malformed_cosmos_connection_fails_naming_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        cosmos_connection(env)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"EVENTHUB_CONNECTION": "Endpoint=https://ns;"}, "EVENTHUB_CONNECTION"),
        (
            {"EVENTHUB_CONNECTION__fullyQualifiedNamespace": "sb://ns.servicebus.windows.net"},
            "EVENTHUB_CONNECTION__fullyQualifiedNamespace",
        ),
    ],
)
def test_a_malformed_eventhub_connection_fails_naming_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        eventhub_connection(env)


def test_the_emulator_connection_strings_in_the_example_settings_are_accepted() -> None:
    values = json.loads((REPO / "local.settings.example.json").read_text())["Values"]

    assert cosmos_connection(values).connection_string == values["COSMOS_CONNECTION"]
    assert eventhub_connection(values).connection_string == values["EVENTHUB_CONNECTION"]
