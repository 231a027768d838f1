"""The templates name exactly what the code reads: app settings, database, containers, hub, consumer group."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from infra.adapters.cosmos.eventstore import EVENTS_INDEXING_POLICY
from infra.app.projector import PARKED_LOG_PREFIX
from infra.entry import bootstrap
from infra.entry.services import SERVICES
from infra.entry.settings import (
    COSMOS_DATABASE,
    ENV_PREFIX,
    KEYS_CONTAINER,
    LEASES_CONTAINER,
    READMODELS_CONTAINER,
    SNAPSHOTS_CONTAINER,
    Settings,
    SettingsError,
    cosmos_connection,
    eventhub_connection,
    load_settings,
)
from tests.conftest import app_functions
from tests.deploy import bicep
from tests.deploy.bicep import MAIN, Expr

FUNCTION_APP = "app/function-app.bicep"
COSMOS = "app/cosmos.bicep"
EVENTHUBS = "app/eventhubs.bicep"
CONTAINERS = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"

# What each binding type's identity-based connection needs besides `__credential` and `__clientId`.
ENDPOINT_SETTING = {
    "cosmosDBTrigger": "accountEndpoint",
    "cosmosDB": "accountEndpoint",
    "eventHubTrigger": "fullyQualifiedNamespace",
    "eventHub": "fullyQualifiedNamespace",
}
# Read by the Functions host rather than by our code: its storage as the identity, and telemetry with
# Application Insights' local auth off.
HOST_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# Settings fields that matter in Azure (the others configure the embedded backends).
AZURE_SETTINGS_FIELDS = ("backend", "cosmos_database")
# What Azure returns for the properties the app settings are built from, to evaluate them.
AZURE_VALUES = {
    "account.properties.documentEndpoint": "https://cosmos-abc.documents.azure.com:443/",
    "namespace.properties.serviceBusEndpoint": "https://evhns-abc.servicebus.windows.net:443/",
}


def bindings() -> list[dict[str, Any]]:
    return [binding for function in app_functions() for binding in function.bindings]


def identity_connection_settings(connection: str, endpoint: str) -> set[str]:
    return {f"{connection}__{endpoint}", f"{connection}__credential", f"{connection}__clientId"}


def composition_root_connections() -> set[str]:
    """The identity-based settings infra.entry.settings reads for the SDK clients, from its own message."""
    names = set()
    for connection in (cosmos_connection, eventhub_connection):
        with pytest.raises(SettingsError) as missing:
            connection({})
        [setting] = re.findall(r"or (\w+)__\w+$", str(missing.value))
        [endpoint] = re.findall(r"or \w+__(\w+)$", str(missing.value))
        names |= identity_connection_settings(setting, endpoint)
    return names


def settings_the_code_reads() -> set[str]:
    names = set()
    for binding in bindings():
        if "connection" in binding:
            names |= identity_connection_settings(binding["connection"], ENDPOINT_SETTING[binding["type"]])
        for value in binding.values():
            names |= set(re.findall(r"%([^%]+)%", str(value)))
    names |= composition_root_connections()
    assert set(AZURE_SETTINGS_FIELDS) <= set(Settings.model_fields)
    names |= {f"{ENV_PREFIX}{field.upper()}" for field in AZURE_SETTINGS_FIELDS}
    names.add("AZURE_CLIENT_ID")  # DefaultAzureCredential's choice of the user-assigned identity
    return names


def app_settings() -> dict[str, bicep.Value]:
    [config] = [
        config
        for config in bicep.by_relative(FUNCTION_APP).of_type("Microsoft.Web/sites/config")
        if config.name == "appsettings"
    ]
    return config.properties


def setting_value(name: str) -> bicep.Value:
    """An app setting's value as Azure will hold it, evaluated across the modules."""
    origin = bicep.trace(bicep.by_relative(FUNCTION_APP), app_settings()[name])
    return bicep.evaluate(origin.value, AZURE_VALUES)  # type: ignore[return-value]


def cosmos_containers() -> dict[str, bicep.Resource]:
    return {str(container.name): container for container in bicep.by_relative(COSMOS).of_type(CONTAINERS)}


def partition_key(container: bicep.Resource) -> list[bicep.Value]:
    resource = container.properties["resource"]
    assert isinstance(resource, dict)
    assert isinstance(resource["partitionKey"], dict)
    paths = resource["partitionKey"]["paths"]
    assert isinstance(paths, list)
    return paths


# --- app settings ---


def test_the_bindings_and_the_composition_root_read_the_settings_this_test_expects() -> None:
    expected = {
        "COSMOS_CONNECTION__accountEndpoint",
        "EVENTHUB_CONNECTION__fullyQualifiedNamespace",
        *(service.lease_prefix_setting for service in SERVICES),
        "EVENTBANK_BACKEND",
        "EVENTBANK_COSMOS_DATABASE",
    }

    assert expected <= settings_the_code_reads()


def test_every_setting_the_code_and_the_bindings_read_is_an_app_setting() -> None:
    missing = settings_the_code_reads() - set(app_settings())

    assert not missing


def test_every_app_setting_is_one_the_code_or_the_host_reads() -> None:
    unexpected = set(app_settings()) - settings_the_code_reads() - HOST_SETTINGS

    assert not unexpected


def test_the_identity_based_connections_use_the_app_identity() -> None:
    settings = app_settings()
    function_app = bicep.by_relative(FUNCTION_APP)
    client_ids = {name: value for name, value in settings.items() if name.endswith("__clientId")}

    assert {name for name, value in settings.items() if name.endswith("__credential")} == {
        name.replace("__clientId", "__credential") for name in client_ids
    }
    for name in client_ids:
        assert settings[name.replace("__clientId", "__credential")] == "managedidentity"
    for name, value in [*client_ids.items(), ("AZURE_CLIENT_ID", settings["AZURE_CLIENT_ID"])]:
        origin = bicep.trace(function_app, value)
        assert origin.file.relative == "app/identity.bicep", name
        assert origin.value == Expr("identity.properties.clientId"), name
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == Expr(
        "'ClientId=${identityClientId};Authorization=AAD'"
    )


def test_the_app_runs_as_the_identity_its_settings_name() -> None:
    function_app = bicep.by_relative(FUNCTION_APP)
    site = function_app.resource("site")
    identity = site.body["identity"]

    assert isinstance(identity, dict)
    assert identity["type"] == "UserAssigned"
    assert identity["userAssignedIdentities"] == {"'${identityId}'": {}}
    origin = bicep.trace(function_app, Expr("identityId"))
    assert (origin.file.relative, origin.value) == ("app/identity.bicep", Expr("identity.id"))


def test_the_endpoints_are_the_provisioned_accounts_in_the_form_the_code_accepts() -> None:
    cosmos_endpoint = setting_value("COSMOS_CONNECTION__accountEndpoint")
    namespace = setting_value("EVENTHUB_CONNECTION__fullyQualifiedNamespace")

    assert cosmos_endpoint == AZURE_VALUES["account.properties.documentEndpoint"]
    assert namespace == "evhns-abc.servicebus.windows.net"
    environment = {
        "COSMOS_CONNECTION__accountEndpoint": str(cosmos_endpoint),
        "EVENTHUB_CONNECTION__fullyQualifiedNamespace": str(namespace),
    }
    assert cosmos_connection(environment).endpoint == cosmos_endpoint
    assert eventhub_connection(environment).endpoint == namespace


def test_the_literal_settings_have_the_values_the_code_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = app_settings()

    assert SERVICES
    for service in SERVICES:
        assert settings[service.lease_prefix_setting] == service.lease_prefix
    assert (
        bicep.name_of(bicep.by_relative(FUNCTION_APP), settings["EVENTBANK_COSMOS_DATABASE"])
        == COSMOS_DATABASE
    )
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTBANK_BACKEND", str(settings["EVENTBANK_BACKEND"]))
    monkeypatch.setenv("EVENTBANK_COSMOS_DATABASE", COSMOS_DATABASE)
    loaded = load_settings()
    assert loaded.backend == "azure"
    assert loaded.cosmos_database == COSMOS_DATABASE


# --- Cosmos DB ---


def test_the_database_is_the_one_the_code_uses() -> None:
    [database] = bicep.by_relative(COSMOS).of_type("Microsoft.DocumentDB/databaseAccounts/sqlDatabases")
    resource = database.properties["resource"]

    assert database.name == COSMOS_DATABASE
    assert isinstance(resource, dict)
    assert resource["id"] == COSMOS_DATABASE


def test_the_containers_are_the_ones_the_code_uses_with_their_partition_keys() -> None:
    found = {name: partition_key(container) for name, container in cosmos_containers().items()}

    assert found == {
        **{service.events_container: ["/streamId"] for service in SERVICES},
        SNAPSHOTS_CONTAINER: ["/streamId"],
        READMODELS_CONTAINER: ["/pk"],
        LEASES_CONTAINER: ["/id"],
        KEYS_CONTAINER: ["/id"],
    }
    for name, container in cosmos_containers().items():
        resource = container.properties["resource"]
        assert isinstance(resource, dict)
        assert resource["id"] == name


def test_the_containers_match_the_emulator_setup() -> None:
    specs = {spec.name: spec for spec in bootstrap.cosmos_containers()}

    assert set(specs) == set(cosmos_containers())
    for name, container in cosmos_containers().items():
        resource = container.properties["resource"]
        assert isinstance(resource, dict)
        assert partition_key(container) == [specs[name].partition_key]
        assert resource.get("indexingPolicy") == specs[name].indexing_policy


def test_each_events_container_indexes_what_the_event_store_expects() -> None:
    assert SERVICES
    for service in SERVICES:
        resource = cosmos_containers()[service.events_container].properties["resource"]
        assert isinstance(resource, dict)
        assert resource["indexingPolicy"] == EVENTS_INDEXING_POLICY


def test_each_change_feed_trigger_binds_to_provisioned_cosmos_containers() -> None:
    triggers = [binding for binding in bindings() if binding["type"] == "cosmosDBTrigger"]
    found = cosmos_containers()

    assert {trigger["containerName"] for trigger in triggers} == {s.events_container for s in SERVICES}
    for trigger in triggers:
        assert trigger["databaseName"] == COSMOS_DATABASE
        assert trigger["containerName"] in found
        assert partition_key(found[trigger["leaseContainerName"]]) == ["/id"]
        assert trigger.get("createLeaseContainerIfNotExists") in (None, False)


def test_the_sdk_settings_name_the_provisioned_database() -> None:
    cosmos = bicep.by_relative(COSMOS)
    main = bicep.load(MAIN)

    assert bicep.name_of(cosmos, cosmos.outputs["databaseName"].value) == COSMOS_DATABASE
    assert bicep.name_of(main, main.outputs["EVENTBANK_COSMOS_DATABASE"].value) == COSMOS_DATABASE


def test_cosmos_is_serverless_unless_throughput_is_given() -> None:
    cosmos = bicep.by_relative(COSMOS)
    [account] = cosmos.of_type("Microsoft.DocumentDB/databaseAccounts")

    assert bicep.load(MAIN).params["cosmosThroughput"].default == 0
    assert cosmos.variables["serverless"] == Expr("throughput == 0")
    assert account.properties["capabilities"] == Expr("serverless ? [{ name: 'EnableServerless' }] : []")


# --- Event Hubs ---


def test_the_hubs_and_consumer_groups_are_the_services_own() -> None:
    eventhubs = bicep.by_relative(EVENTHUBS)
    hubs = {hub.name: hub for hub in eventhubs.of_type("Microsoft.EventHub/namespaces/eventhubs")}
    groups = eventhubs.of_type("Microsoft.EventHub/namespaces/eventhubs/consumergroups")

    wanted = {(s.hub, s.read_models_consumer_group) for s in SERVICES} | {
        (subscription.hub, subscription.consumer_group) for s in SERVICES for subscription in s.subscriptions
    }

    assert set(hubs) == {service.hub for service in SERVICES}
    assert {group.name for group in groups} == {name for _, name in wanted}
    for hub, name in wanted:
        [group] = [group for group in groups if group.name == name]
        assert group.path.startswith(f"{hubs[hub].path}::")


def test_each_event_hub_trigger_binds_to_a_provisioned_hub_and_a_group_of_that_hub() -> None:
    triggers = [binding for binding in bindings() if binding["type"] == "eventHubTrigger"]
    eventhubs = bicep.by_relative(EVENTHUBS)
    hubs = {hub.name: hub for hub in eventhubs.of_type("Microsoft.EventHub/namespaces/eventhubs")}
    groups = eventhubs.of_type("Microsoft.EventHub/namespaces/eventhubs/consumergroups")

    assert len(triggers) == sum(1 + len(service.subscriptions) for service in SERVICES)
    for trigger in triggers:
        [group] = [group for group in groups if group.name == trigger["consumerGroup"]]
        assert group.path.startswith(f"{hubs[trigger['eventHubName']].path}::")


def test_the_partition_count_is_a_parameter_defaulting_to_4() -> None:
    eventhubs = bicep.by_relative(EVENTHUBS)
    hubs = eventhubs.of_type("Microsoft.EventHub/namespaces/eventhubs")
    main = bicep.load(MAIN)

    assert hubs
    for hub in hubs:
        assert hub.properties["partitionCount"] == Expr("partitionCount")
    assert main.params["eventHubPartitionCount"].default == 4
    assert main.module("eventHubs").params["partitionCount"] == Expr("eventHubPartitionCount")


def test_the_parked_stream_alert_matches_what_the_projector_logs_when_it_parks() -> None:
    [alert] = bicep.by_relative("app/monitoring.bicep").of_type("Microsoft.Insights/scheduledQueryRules")
    criteria = alert.properties["criteria"]
    assert isinstance(criteria, dict)
    conditions = criteria["allOf"]
    assert isinstance(conditions, list)
    [condition] = conditions
    assert isinstance(condition, dict)

    assert condition["query"] == f'traces | where message startswith "{PARKED_LOG_PREFIX}"'
    assert (condition["operator"], condition["threshold"]) == ("GreaterThan", 0)
    assert alert.properties["enabled"] is True
