"""No keys anywhere: local auth is off on every service, nothing lists keys, and no app setting or output
carries a connection string or a secret. The function app is Flex Consumption running Python 3.13
with the worker the app pins."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from infra.entry.settings import COSMOS_CONNECTION, EVENTHUB_CONNECTION
from tests.conftest import app_functions
from tests.deploy import bicep
from tests.deploy.bicep import MAIN, REPO, Expr, Resource

FUNCTION_APP = "app/function-app.bicep"
# Application Insights' connection string names the resource and its ingestion endpoint; it is no secret
# (telemetry is authenticated with the identity: APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
NOT_A_SECRET = {"APPLICATIONINSIGHTS_CONNECTION_STRING"}
SECRET_WORDS = re.compile(r"key|secret|password|connection_?string|sas|token|credential", re.IGNORECASE)
KEY_MATERIAL = re.compile(
    r"AccountKey=|SharedAccessKey|InstrumentationKey=|listKeys|listConnectionStrings|listSecrets"
)


def the_one(file: str, resource_type: str) -> Resource:
    [resource] = bicep.by_relative(file).of_type(resource_type)
    return resource


def app_settings() -> dict[str, bicep.Value]:
    return site_config("appsettings").properties


def site_config(name: str) -> bicep.Resource:
    [config] = [
        c for c in bicep.by_relative(FUNCTION_APP).of_type("Microsoft.Web/sites/config") if c.name == name
    ]
    return config


@pytest.mark.parametrize(
    ("file", "resource_type"),
    [
        ("app/cosmos.bicep", "Microsoft.DocumentDB/databaseAccounts"),
        ("app/eventhubs.bicep", "Microsoft.EventHub/namespaces"),
        ("app/monitoring.bicep", "Microsoft.Insights/components"),
    ],
)
def test_local_auth_is_disabled(file: str, resource_type: str) -> None:
    properties = the_one(file, resource_type).properties
    # Microsoft.Insights/components@2020-02-02 spells it DisableLocalAuth; the others disableLocalAuth.
    [setting] = [name for name in properties if name.lower() == "disablelocalauth"]

    assert properties[setting] is True


def test_log_analytics_takes_no_shared_keys_either() -> None:
    features = the_one("app/monitoring.bicep", "Microsoft.OperationalInsights/workspaces").properties[
        "features"
    ]

    assert isinstance(features, dict)
    assert features["disableLocalAuth"] is True


def test_cosmos_rejects_key_based_metadata_writes() -> None:
    properties = the_one("app/cosmos.bicep", "Microsoft.DocumentDB/databaseAccounts").properties

    assert properties["disableKeyBasedMetadataWriteAccess"] is True
    assert properties["minimalTlsVersion"] == "Tls12"


def test_storage_takes_no_shared_keys_and_no_anonymous_reads() -> None:
    properties = the_one("app/storage.bicep", "Microsoft.Storage/storageAccounts").properties

    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_event_hubs_requires_tls_1_2_on_the_standard_tier() -> None:
    namespace = the_one("app/eventhubs.bicep", "Microsoft.EventHub/namespaces")

    assert namespace.properties["minimumTlsVersion"] == "1.2"
    assert isinstance(namespace.body["sku"], dict)
    assert namespace.body["sku"]["name"] == "Standard"


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=lambda path: path.name)
def test_no_template_lists_keys_or_embeds_key_material(path: Path) -> None:
    assert not KEY_MATERIAL.search(path.read_text())


def test_no_secure_parameters_or_outputs_are_needed() -> None:
    for path in bicep.bicep_files():
        file = bicep.load(path)
        declarations: list[bicep.Param | bicep.Output] = [*file.params.values(), *file.outputs.values()]
        for declaration in declarations:
            assert "@secure()" not in declaration.decorators, (file.relative, declaration.name)


def test_no_app_setting_is_a_connection_string_or_a_secret() -> None:
    settings = app_settings()

    for name, value in settings.items():
        if name in NOT_A_SECRET:
            continue
        assert not SECRET_WORDS.search(name.replace("__credential", "")), name
        assert not KEY_MATERIAL.search(str(value)), name
    # The exact-match names would be read as connection strings, overriding the identity settings.
    for connection in (COSMOS_CONNECTION, EVENTHUB_CONNECTION, "AzureWebJobsStorage"):
        assert connection not in settings
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == Expr(
        "applicationInsights.properties.ConnectionString"
    )


def test_no_output_is_a_connection_string_or_a_secret() -> None:
    for path in bicep.bicep_files():
        file = bicep.load(path)
        for output in file.outputs.values():
            assert not SECRET_WORDS.search(output.name), (file.relative, output.name)
            assert not SECRET_WORDS.search(str(output.value)), (file.relative, output.name)
            assert not re.search(
                r"ConnectionString|primaryKey|secondaryKey", str(output.value), re.IGNORECASE
            )


def test_publishing_credentials_are_disabled() -> None:
    policies = bicep.by_relative(FUNCTION_APP).of_type(
        "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    )

    assert {policy.name for policy in policies} == {"ftp", "scm"}
    assert all(policy.properties["allow"] is False for policy in policies)


def test_the_function_app_is_python_3_13_on_flex_consumption() -> None:
    plan = the_one(FUNCTION_APP, "Microsoft.Web/serverfarms")
    site = the_one(FUNCTION_APP, "Microsoft.Web/sites")
    config = site.properties["functionAppConfig"]
    python_version = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["python_version"]

    assert plan.body["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.properties["reserved"] is True
    assert site.body["kind"] == "functionapp,linux"
    assert isinstance(config, dict)
    assert config["runtime"] == {"name": "python", "version": "3.13"}
    assert python_version == "3.13"
    assert site.properties["httpsOnly"] is True
    # Flex takes the runtime from functionAppConfig, not from these.
    assert "FUNCTIONS_WORKER_RUNTIME" not in app_settings()
    assert "FUNCTIONS_EXTENSION_VERSION" not in app_settings()


def test_the_deployment_package_is_reached_with_the_identity() -> None:
    site = the_one(FUNCTION_APP, "Microsoft.Web/sites")
    config = site.properties["functionAppConfig"]

    assert isinstance(config, dict)
    assert isinstance(config["deployment"], dict)
    storage = config["deployment"]["storage"]
    assert isinstance(storage, dict)
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": Expr("identityId"),
    }


def test_azd_finds_the_function_app_as_service_api() -> None:
    site = the_one(FUNCTION_APP, "Microsoft.Web/sites")

    assert site.body["tags"] == Expr("union(tags, { 'azd-service-name': 'api' })")
    assert bicep.load(MAIN).outputs["SERVICE_API_NAME"].value == Expr("functionApp.outputs.name")


def test_http_functions_need_a_key_except_health_and_the_operators_ones_need_the_master_key() -> None:
    levels = {
        function.name: binding.get("authLevel")
        for function in app_functions()
        for binding in function.bindings
        if binding["type"] == "httpTrigger"
    }
    routes = {
        function.name: binding["route"]
        for function in app_functions()
        for binding in function.bindings
        if binding["type"] == "httpTrigger"
    }

    # no key: health for probes, and the contract and its docs page, which a browser fetches
    assert {levels.pop(name) for name in ("health", "openapi", "docs", "docs_asset")} == {"ANONYMOUS"}
    admin = {name for name in levels if routes[name].startswith("ops/") or routes[name] == "status"}
    assert admin == {"dead_letters", "forget", "replay_dead_letters", "status", "verify_event_log"}
    assert {levels.pop(name) for name in admin} == {"ADMIN"}
    assert levels
    assert set(levels.values()) == {"FUNCTION"}


def test_the_app_pins_the_python_worker_azure_runs_and_the_dev_host_runs_that_same_worker() -> None:
    pins = {
        name.strip().lower(): version.strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
        for name, version in [line.split("#")[0].split("==")]
    }

    # from Python 3.13, Azure runs the azure-functions-runtime that requirements.txt lists
    assert "azure-functions-runtime" in pins
    assert importlib.metadata.version("azure-functions-runtime") == pins["azure-functions-runtime"]
    assert sys.version_info[:2] == (3, 13)
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"].startswith(
        ">=3.13"
    )


def test_with_a_client_id_app_service_authentication_answers_401_to_anyone_without_a_token_but_health() -> (
    None
):
    authentication = site_config("authsettingsV2")
    settings = authentication.properties
    validation = settings["globalValidation"]
    providers = settings["identityProviders"]
    assert isinstance(providers, dict)
    entra = providers["azureActiveDirectory"]
    assert isinstance(entra, dict)

    assert "!empty(authClientId)" in str(authentication.condition)
    assert settings["platform"] == {"enabled": True}
    assert validation == {
        "requireAuthentication": True,
        "unauthenticatedClientAction": "Return401",
        "excludedPaths": [
            "/api/health",
            "/api/health/deep",
            "/api/openapi.json",
            "/api/docs",
            "/api/docs/swagger-ui.css",
            "/api/docs/swagger-ui-bundle.js",
        ],
    }
    assert entra["registration"] == {
        "clientId": Expr("authClientId"),
        "openIdIssuer": Expr("'${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'"),
    }
    assert bicep.load(MAIN).params["authClientId"].default == ""
    # the platform's marker that it is on is read, never set: setting it would fake authentication
    assert "WEBSITE_AUTH_ENABLED" not in app_settings()
