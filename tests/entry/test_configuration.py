"""The bindings, host.json and the example settings agree with each other and with the code's names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from infra.entry.services import SERVICES, binding_setting_defaults
from infra.entry.settings import COSMOS_CONNECTION, EVENTHUB_CONNECTION
from tests.conftest import app_functions

REPO = Path(__file__).resolve().parents[2]


def bindings() -> list[dict[str, Any]]:
    return [binding for function in app_functions() for binding in function.bindings]


def example_settings() -> dict[str, str]:
    values: dict[str, str] = json.loads((REPO / "local.settings.example.json").read_text())["Values"]
    return values


def test_every_binding_connection_and_setting_expression_is_defined_in_the_example_settings() -> None:
    defined = example_settings()
    assert bindings()
    for binding in bindings():
        if "connection" in binding:
            assert binding["connection"] in defined, binding
        for value in binding.values():
            for setting in re.findall(r"%([^%]+)%", str(value)):
                assert setting in defined, (setting, binding)


def test_each_services_triggers_name_its_container_hub_and_consumer_group() -> None:
    triggers = {function.name: function.trigger for function in app_functions()}

    assert SERVICES
    for service in SERVICES:
        relay, projector = triggers[service.relay_function], triggers[service.projector_function]
        assert relay["type"] == "cosmosDBTrigger"
        assert relay["containerName"] == service.events_container
        assert relay["connection"] == COSMOS_CONNECTION
        assert relay["leaseContainerName"] == "leases"
        assert relay["leaseContainerPrefix"] == f"%{service.lease_prefix_setting}%"
        assert projector["type"] == "eventHubTrigger"
        assert projector["eventHubName"] == service.hub
        assert projector["consumerGroup"] == service.read_models_consumer_group
        assert projector["connection"] == EVENTHUB_CONNECTION
        assert projector["cardinality"] == "MANY"


def test_every_non_http_function_has_a_retry_policy_so_a_failed_batch_is_not_skipped() -> None:
    # a timer skips nothing when it fails: its next run sweeps again
    untimed = ("httpTrigger", "timerTrigger")
    triggered = [function for function in app_functions() if function.trigger["type"] not in untimed]

    assert triggered
    for function in triggered:
        assert function.retry is not None, function.name


def test_host_json_sets_the_route_prefix_bundle_and_batch_size() -> None:
    host = json.loads((REPO / "host.json").read_text())

    assert host["version"] == "2.0"
    assert host["extensions"]["http"]["routePrefix"] == "api"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    assert host["extensions"]["eventHubs"]["maxEventBatchSize"] == 100


def test_importing_function_app_builds_no_clients_or_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import function_app, infra.entry.bootstrap as b; print(b._root is None)"],
        cwd=REPO,
        env={"EVENTBANK_DATA_DIR": str(tmp_path / "data"), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.strip() == "True"
    assert not (tmp_path / "data").exists()


def test_the_event_hubs_emulator_config_declares_each_services_hub_and_consumer_group() -> None:
    config = json.loads((REPO / "emulator" / "eventhubs" / "Config.json").read_text())
    (namespace,) = config["UserConfig"]["NamespaceConfig"]
    hubs = {entity["Name"]: entity for entity in namespace["Entities"]}

    assert set(hubs) == {service.hub for service in SERVICES}
    for service in SERVICES:
        groups = {group["Name"] for group in hubs[service.hub]["ConsumerGroups"]}
        assert service.read_models_consumer_group in groups
        assert "$Default" not in groups  # the emulator creates it and refuses it in config


def test_docker_compose_starts_every_emulator_the_example_settings_point_at() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    settings = example_settings()

    assert "localhost:8081" in settings["COSMOS_CONNECTION"]
    assert "8081:8081" in services["cosmos"]["ports"]
    assert "UseDevelopmentEmulator=true" in settings["EVENTHUB_CONNECTION"]
    assert "5672:5672" in services["eventhubs"]["ports"]
    assert any(
        volume.startswith("./emulator/eventhubs/Config.json:") for volume in services["eventhubs"]["volumes"]
    )
    assert settings["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert "10000:10000" in services["azurite"]["ports"]


def test_the_dev_host_has_a_default_for_every_binding_setting_expression() -> None:

    used = {
        name
        for binding in bindings()
        for value in binding.values()
        for name in re.findall(r"%([^%]+)%", str(value))
    }

    assert used <= binding_setting_defaults().keys()
    assert used  # the relay's lease prefix is one
