"""The templates are well formed and fit together: what a Bicep compiler would catch first, without one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.deploy import bicep
from tests.deploy.bicep import AZURE, MAIN, Expr

MODULES = [
    "identity",
    "storage",
    "monitoring",
    "cosmos",
    "eventhubs",
    "function-app",
    "rbac",
    "cosmos-rbac",
]


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=lambda path: path.relative_to(AZURE).as_posix())
def test_every_bicep_file_parses_without_syntax_errors(path: Path) -> None:
    assert bicep.syntax_problems(bicep.parse(path.read_bytes())) == []


def test_the_syntax_check_finds_errors_when_there_are_some() -> None:
    broken = b"resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {\n  name: \n"

    assert len(bicep.syntax_problems(bicep.parse(broken))) >= 1


def test_there_is_one_module_per_concern() -> None:
    assert sorted(path.stem for path in (AZURE / "app").glob("*.bicep")) == sorted(MODULES)
    main = bicep.load(MAIN)
    assert sorted(module.path for module in main.modules) == sorted(f"app/{name}.bicep" for name in MODULES)


def test_main_runs_at_subscription_scope_and_puts_everything_in_the_resource_group_it_creates() -> None:
    main = bicep.load(MAIN)

    assert main.target_scope == "subscription"
    [group] = main.of_type("Microsoft.Resources/resourceGroups")
    assert group.body["tags"] == Expr("tags")
    assert main.variables["tags"] == {"azd-env-name": Expr("environmentName")}
    assert main.modules
    for module in main.modules:
        assert module.body["scope"] == Expr(group.symbol), module.symbol


def test_every_module_gets_the_parameters_it_declares_and_only_those() -> None:
    main = bicep.load(MAIN)
    assert main.modules
    for module in main.modules:
        target = bicep.load(AZURE / module.path)
        required = {name for name, param in target.params.items() if not param.has_default}
        assert required <= set(module.params), (module.symbol, required - set(module.params))
        assert set(module.params) <= set(target.params), (
            module.symbol,
            set(module.params) - set(target.params),
        )


def test_every_module_output_main_uses_exists() -> None:
    main = bicep.load(MAIN)
    used = re.findall(r"\b(\w+)\.outputs\.(\w+)", main.text)
    assert used
    for symbol, output in used:
        target = bicep.load(AZURE / main.module(symbol).path)
        assert output in target.outputs, (symbol, output)


def test_the_parameters_file_sets_main_bicep_parameters_with_azd_variables() -> None:
    main = bicep.load(MAIN)
    parameters = json.loads((AZURE / "main.parameters.json").read_text())["parameters"]

    assert set(parameters) <= set(main.params)
    required = {name for name, param in main.params.items() if not param.has_default}
    assert required <= set(parameters)
    for name, entry in parameters.items():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", entry["value"]), (name, entry)
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def test_the_parameter_defaults_agree_between_main_bicep_and_the_parameters_file() -> None:
    main = bicep.load(MAIN)
    parameters = json.loads((AZURE / "main.parameters.json").read_text())["parameters"]
    assert any("=" in entry["value"] for entry in parameters.values())
    for name, entry in parameters.items():
        if match := re.fullmatch(r"\$\{[A-Z_]+=([^}]*)\}", entry["value"]):
            assert str(main.params[name].default) == match.group(1), name


def test_every_abbreviation_used_is_defined() -> None:
    abbreviations = json.loads((AZURE / "abbreviations.json").read_text())
    main = bicep.load(MAIN)

    assert main.variables["abbrs"] == Expr("loadJsonContent('abbreviations.json')")
    used = set(re.findall(r"\babbrs\.(\w+)", main.text))
    assert used
    assert used <= set(abbreviations)


def test_resource_names_are_unique_per_environment_and_region() -> None:
    main = bicep.load(MAIN)

    assert main.variables["resourceToken"] == Expr(
        "toLower(uniqueString(subscription().id, environmentName, location))"
    )
    names = [
        (module.symbol, param, value)
        for module in main.modules
        for param, value in module.params.items()
        if param in ("name", "planName", "logAnalyticsName", "applicationInsightsName")
        and ".outputs." not in str(value)
    ]
    assert len(names) >= len(main.modules) - 2  # rbac and cosmos-rbac create no named resources of their own
    for symbol, param, value in names:
        assert "resourceToken" in str(bicep.resolve(main, value)), (symbol, param)
