"""The layers' import rules are enforced by import-linter (make lint): they hold on the tree, and an
import that breaks one fails the check, naming the contract."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def checked_copy(tmp_path: Path) -> Path:
    """The packages the contracts cover and their configuration, in a folder of their own."""
    for package in ("domain", "projections", "infra"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    done = lint_imports(checked_copy(tmp_path))

    assert done.returncode == 0, done.stdout
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("infra/app/relay.py", "from infra.adapters.sqlite import database", "infra's layers"),
        ("domain/accounts.py", "import infra.ports.eventstore", "domain imports nothing of ours outside it"),
        ("infra/app/commands.py", "import azure.cosmos", "the application layer imports no Azure SDK"),
        ("infra/adapters/cosmos/eventstore.py", "import infra.adapters.sqlite.database", "stands alone"),
        ("infra/entry/http.py", "import infra.adapters.memory.eventstore", "only the composition root"),
        (
            "infra/entry/accounts_api.py",
            "import infra.adapters.sqlite.eventstore",
            "only the composition root",
        ),
    ],
)
def test_a_forbidden_import_fails_the_check_naming_its_contract(
    tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    folder = checked_copy(tmp_path)
    target = folder / module
    target.write_text(target.read_text() + f"\n{forbidden}  # noqa\n")

    done = lint_imports(folder)

    assert done.returncode == 1
    _, heading, broken = done.stdout.partition("Broken contracts")
    assert heading, done.stdout
    assert contract in broken


def test_function_app_imports_only_the_functions_library_and_the_entry_and_app_layers() -> None:
    tree = ast.parse((REPO / "function_app.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }

    assert imported
    assert not {
        name
        for name in imported
        if name and name.startswith(("infra.adapters", "infra.tools", "azure.cosmos"))
    }
    assert not {name for name in imported if name and name.startswith("azure.") and name != "azure.functions"}


# import-linter cannot forbid a sub-package of an external package (azure.cosmos, azure.eventhub), nor
# allow-list one: these read every import statement of our modules instead.

SDK_HOMES = {
    "azure.cosmos": ("infra/adapters/cosmos/", "infra/entry/bootstrap.py"),
    "azure.eventhub": ("infra/adapters/eventhubs/", "infra/entry/bootstrap.py"),
    "azure.identity": ("infra/entry/bootstrap.py",),
    "azure.core": ("infra/adapters/cosmos/", "infra/adapters/eventhubs/", "infra/entry/bootstrap.py"),
    "azure.functions": ("function_app.py", "infra/entry/", "infra/tools/"),
    "azure_functions_runtime": ("infra/tools/worker.py",),
}
DOMAIN_MAY_IMPORT = {"pydantic", "pydantic_extra_types", "domain"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def our_modules() -> list[Path]:
    paths = [REPO / "function_app.py", *(REPO / "infra").rglob("*.py"), *(REPO / "domain").rglob("*.py")]
    return [path for path in paths if "function_rpc_pb2" not in path.name]


def test_each_azure_sdk_is_imported_only_by_its_adapters_and_the_composition_root() -> None:
    misplaced = {
        (path.relative_to(REPO).as_posix(), name)
        for path in our_modules()
        for name in imports_of(path)
        for sdk, homes in SDK_HOMES.items()
        if (name == sdk or name.startswith(f"{sdk}."))
        and not path.relative_to(REPO).as_posix().startswith(homes)
    }

    assert our_modules()
    assert misplaced == set()


def test_the_domain_imports_only_the_standard_library_and_pydantic() -> None:
    domain = list((REPO / "domain").rglob("*.py"))
    outside = {
        (path.name, name)
        for path in domain
        for name in imports_of(path)
        if name.split(".")[0] not in sys.stdlib_module_names | DOMAIN_MAY_IMPORT
    }

    assert domain
    assert outside == set()


def test_the_sdk_check_names_a_misplaced_import(tmp_path: Path) -> None:
    module = tmp_path / "operations_api.py"
    module.write_text("import azure.eventhub\nfrom azure.cosmos import CosmosClient\n")

    assert imports_of(module) == {"azure.eventhub", "azure.cosmos"}
