"""azure.yaml, the deployed package (.funcignore), the post-provision script, the README's deploy section."""

from __future__ import annotations

import json
import os
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.entry.services import SERVICES
from infra.entry.settings import COSMOS_DATABASE, cosmos_connection, eventhub_connection
from tests.deploy import bicep
from tests.deploy.bicep import AZURE, MAIN, REPO

SCRIPT = AZURE / "scripts" / "write-local-settings.sh"
RUNNABLE_PACKAGES = ("domain", "projections", "infra")
RUNNABLE_FILES = {"function_app.py", "host.json", "requirements.txt"}


# --- azure.yaml ---


def azure_yaml() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "azure.yaml").read_text())
    return loaded


def test_azure_yaml_deploys_this_folder_as_the_python_function_app_api() -> None:
    project = azure_yaml()

    assert project["name"] == "eventbank"
    assert project["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert project["infra"]["provider"] == "bicep"
    assert project["infra"]["path"] == "infra/azure"
    assert (REPO / project["infra"]["path"] / f"{project['infra'].get('module', 'main')}.bicep").is_file()


def test_the_post_provision_hook_runs_the_local_settings_script() -> None:
    hook = azure_yaml()["hooks"]["postprovision"]["posix"]

    assert (REPO / hook["run"]).resolve() == SCRIPT
    assert hook["shell"] == "sh"
    assert os.access(SCRIPT, os.X_OK)


# --- .funcignore ---


def funcignore_patterns() -> list[str]:
    lines = (REPO / ".funcignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, is_dir: bool) -> bool:
    """gitignore matching, for the forms .funcignore uses: globs, `dir/`, anchored `a/b`, `!negation`."""
    result = False
    for raw in funcignore_patterns():
        negate = raw.startswith("!")
        pattern = raw.removeprefix("!")
        if pattern.endswith("/") and not is_dir:
            continue
        pattern = pattern.strip("/")
        subject = path if "/" in pattern else path.rsplit("/", 1)[-1]
        if fnmatchcase(subject, pattern):
            result = not negate
    return result


def packaged_files() -> set[str]:
    """What the deployment package holds: the repository's files minus .funcignore's."""
    packaged = set()
    for directory, subdirectories, names in os.walk(REPO):
        relative = Path(directory).relative_to(REPO).as_posix()
        relative = "" if relative == "." else relative
        prefix = f"{relative}/" if relative else ""
        subdirectories[:] = [name for name in subdirectories if not ignored(f"{prefix}{name}", is_dir=True)]
        packaged |= {f"{prefix}{name}" for name in names if not ignored(f"{prefix}{name}", is_dir=False)}
    return packaged


# the docs page's files the app serves (/api/docs), vendored with their licence
SERVED_FILES = {
    f"infra/entry/swagger_ui/{name}"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "VERSION")
}


def runs_in_azure(path: str) -> bool:
    top = path.split("/", 1)[0]
    return (
        path in RUNNABLE_FILES or path in SERVED_FILES or (top in RUNNABLE_PACKAGES and path.endswith(".py"))
    )


def test_the_package_holds_only_what_runs() -> None:
    packaged = packaged_files()

    assert {path for path in packaged if not runs_in_azure(path)} == set()
    assert packaged >= RUNNABLE_FILES | SERVED_FILES
    assert {
        "infra/entry/settings.py",
        "infra/entry/bootstrap.py",
        "domain/accounts.py",
        "projections/__init__.py",
    } <= packaged


@pytest.mark.parametrize(
    "path",
    [
        "tests/deploy/test_packaging.py",
        "infra/azure/main.bicep",
        "infra/azure/scripts/write-local-settings.sh",
        ".venv/bin/python",
        ".data/accounts/events.sqlite",
        "emulator/eventhubs/Config.json",
        "docker-compose.yml",
        "bench-results/run.json",
        "local.settings.json",
        "local.settings.example.json",
        ".azure/dev/.env",
        "infra/__pycache__/settings.cpython-311.pyc",
    ],
)
def test_funcignore_leaves_out(path: str) -> None:
    parts = path.split("/")
    assert any(
        ignored("/".join(parts[: depth + 1]), is_dir=depth < len(parts) - 1) for depth in range(len(parts))
    )


@pytest.mark.parametrize(
    "path", ["infra/entry/settings.py", "infra/adapters/cosmos/eventstore.py", "function_app.py", "host.json"]
)
def test_funcignore_keeps(path: str) -> None:
    parts = path.split("/")
    assert not any(
        ignored("/".join(parts[: depth + 1]), is_dir=depth < len(parts) - 1) for depth in range(len(parts))
    )


# --- the post-provision script ---


def provisioned_outputs() -> dict[str, str]:
    """A value for every output main.bicep gives azd, as Azure would fill it in."""
    samples = {
        "COSMOS_CONNECTION__accountEndpoint": "https://cosmos-abc.documents.azure.com:443/",
        "EVENTHUB_CONNECTION__fullyQualifiedNamespace": "evhns-abc.servicebus.windows.net",
        "EVENTBANK_COSMOS_DATABASE": COSMOS_DATABASE,
        "AZURE_STORAGE_BLOB_ENDPOINT": "https://stabc.blob.core.windows.net/",
        "AZURE_STORAGE_TABLE_ENDPOINT": "https://stabc.table.core.windows.net/",
    }
    outputs = bicep.load(MAIN).outputs
    assert set(samples) <= set(outputs)
    return {name: samples.get(name, "sample") for name in outputs}


def run_script(target: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # PATH without azd: the values come from the environment, as azd passes them to hooks.
    env = {"PATH": "/usr/bin:/bin", "LOCAL_SETTINGS_PATH": str(target), **environment}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)


def test_the_script_writes_settings_for_the_provisioned_resources_and_the_developer_identity(
    tmp_path: Path,
) -> None:
    target = tmp_path / "local.settings.json"
    outputs = provisioned_outputs()

    result = run_script(target, {**outputs, "USER": "Ada Lovelace"})

    assert result.returncode == 0, result.stderr
    values = json.loads(target.read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["EVENTBANK_BACKEND"] == "azure"
    assert values["EVENTBANK_COSMOS_DATABASE"] == COSMOS_DATABASE
    assert values["AzureWebJobsStorage__blobServiceUri"] == outputs["AZURE_STORAGE_BLOB_ENDPOINT"]
    assert values["AzureWebJobsStorage__tableServiceUri"] == outputs["AZURE_STORAGE_TABLE_ENDPOINT"]
    assert cosmos_connection(values).endpoint == outputs["COSMOS_CONNECTION__accountEndpoint"]
    assert eventhub_connection(values).endpoint == outputs["EVENTHUB_CONNECTION__fullyQualifiedNamespace"]
    # The developer's own identity: no managed-identity settings.
    assert not [name for name in values if name.endswith(("__credential", "__clientId"))]
    assert "AZURE_CLIENT_ID" not in values


def test_the_script_gives_each_services_local_relay_its_own_lease_prefix(tmp_path: Path) -> None:
    target = tmp_path / "local.settings.json"

    result = run_script(target, {**provisioned_outputs(), "USER": "Ada Lovelace"})

    assert result.returncode == 0, result.stderr
    assert SERVICES
    for service in SERVICES:
        prefix = json.loads(target.read_text())["Values"][service.lease_prefix_setting]
        assert prefix == f"local-ada-lovelace-{service.lease_prefix}"
        assert not prefix.startswith(service.lease_prefix)


def test_the_script_keeps_a_different_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "local.settings.json"
    target.write_text('{"Values": {"COSMOS_CONNECTION": "the emulator"}}')

    result = run_script(target, {**provisioned_outputs(), "USER": "ada"})

    assert result.returncode == 0, result.stderr
    assert "the emulator" in (tmp_path / "local.settings.json.bak").read_text()
    assert "the emulator" not in target.read_text()


def test_the_script_names_a_missing_output(tmp_path: Path) -> None:
    outputs = provisioned_outputs()
    del outputs["EVENTHUB_CONNECTION__fullyQualifiedNamespace"]

    result = run_script(tmp_path / "local.settings.json", outputs)

    assert result.returncode != 0
    assert "EVENTHUB_CONNECTION__fullyQualifiedNamespace" in result.stderr
    assert not (tmp_path / "local.settings.json").exists()


# --- README ---


def test_the_readme_explains_deploying_before_the_status() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("## Deploy to Azure")
    section = readme[start : readme.index("\n## ", start + 1)]

    assert start < readme.index("## Status")
    for needle in (
        "azd auth login",
        "azd up",
        "azd down --purge",
        "az functionapp function keys list",
        "func start",
        SCRIPT.relative_to(REPO).as_posix(),
        "Flex Consumption",
        "serverless",
        "throughput unit",
    ):
        assert needle in section, needle


def modules_function_app_needs() -> set[str]:
    """Every module of ours that function_app.py imports, directly or through others (lazy imports inside
    functions included: grimp reads every import statement)."""
    import ast

    import grimp

    graph = grimp.build_graph("infra", "domain", "projections", cache_dir=None)
    tree = ast.parse((REPO / "function_app.py").read_text())
    direct = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in RUNNABLE_PACKAGES
    } | {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in ("infra.entry", "infra.app")
        for alias in node.names
    }
    known = {module for module in direct if module in graph.modules}
    needed = set(known)
    for module in known:
        needed |= graph.find_upstream_modules(module)
    return needed


def test_the_package_holds_every_module_the_app_imports_and_no_tool() -> None:
    packaged = packaged_files()
    needed = modules_function_app_needs()

    assert {"infra.entry.bootstrap", "infra.adapters.cosmos.eventstore", "domain.accounts"} <= needed
    for module in needed:
        path = module.replace(".", "/")
        assert f"{path}.py" in packaged or f"{path}/__init__.py" in packaged, module
    assert not {module for module in needed if module.startswith("infra.tools")}
    assert not {path for path in packaged if path.startswith("infra/tools/")}
