"""The dev host refuses to start an app the Functions host would put in error, naming the function and the
rule (infra/tools/host_rules.py cites where each rule comes from)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_devhost_pipeline import REPO

pytestmark = pytest.mark.e2e

HEADER = """
import typing
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
"""
HOST_JSON: dict[str, Any] = json.loads((REPO / "host.json").read_text())
EVENT_HUB_FUNCTION = """
@app.event_hub_message_trigger(arg_name="events", connection="HUB", event_hub_name="h", cardinality="many")
@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
def listener(events: typing.List[func.EventHubEvent]) -> None:
    pass
"""

BROKEN = {
    "a timer whose schedule is not six NCRONTAB fields": (
        """
        @app.timer_trigger(arg_name="timer", schedule="*/5 * * * *")
        def sweep(timer: func.TimerRequest) -> None:
            pass
        """,
        HOST_JSON,
        "The 'sweep' function is in error: The schedule expression '*/5 * * * *' was not recognized",
    ),
    "a route under the host's admin prefix": (
        """
        @app.route(route="admin/things", methods=["GET"])
        def things(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("")
        """,
        HOST_JSON,
        "The 'things' function is in error: The specified route conflicts with one or more built in routes.",
    ),
    "a route under the host's runtime prefix, in other letters": (
        """
        @app.route(route="/Runtime/status", methods=["GET"])
        def runtime_status(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("")
        """,
        HOST_JSON,
        "The 'runtime_status' function is in error: The specified route conflicts with one or more built in",
    ),
    "two functions on one route and method": (
        """
        @app.route(route="items", methods=["GET", "POST"])
        def first(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("")

        @app.route(route="Items/", methods=["POST"])
        def second(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("")
        """,
        HOST_JSON,
        "The 'second' function is in error: The route specified conflicts with the route defined by function "
        "'first'.",
    ),
    "a binding expression naming a setting nobody defines": (
        """
        @app.cosmos_db_trigger(
            arg_name="documents",
            connection="C",
            database_name="d",
            container_name="%NOBODY_DEFINES_THIS%",
        )
        @app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
        def documents_in(documents: func.DocumentList) -> None:
            pass
        """,
        HOST_JSON,
        "The 'documents_in' function is in error: the binding 'documents' names the app setting "
        "%NOBODY_DEFINES_THIS%, which is not defined",
    ),
    "an invalid function name": (
        """
        @app.function_name("2fast")
        @app.route(route="fast", methods=["GET"])
        def fast(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("")
        """,
        HOST_JSON,
        "The '2fast' function is in error: '2fast' is not a valid function name.",
    ),
    "a host.json that is not version 2.0": (
        """
        @app.route(route="fine", methods=["GET"])
        def fine(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("")
        """,
        {**HOST_JSON, "version": "1.0"},
        'host.json: "version" must be "2.0"',
    ),
    "an extension bundle too old for the triggers": (
        EVENT_HUB_FUNCTION,
        {
            **HOST_JSON,
            "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[3.*, 4.0.0)"},
        },
        "host.json: the extension bundle ('Microsoft.Azure.Functions.ExtensionBundle', '[3.*, 4.0.0)')"
        " must be",
    ),
}


def start(
    tmp_path: Path, source: str, host_json: dict[str, Any], *args: str
) -> subprocess.CompletedProcess[str]:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "host.json").write_text(json.dumps(host_json))
    (folder / "function_app.py").write_text(HEADER + textwrap.dedent(source))
    command = [sys.executable, "-m", "infra.tools.devhost", "--app-dir", str(folder), *args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HUB", "COSMOS_", "EVENTHUB_"))}
    return subprocess.run(
        [*command, "--data-dir", str(tmp_path / "data")],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_the_dev_host_refuses_an_app_the_functions_host_would_put_in_error(
    broken: str, tmp_path: Path
) -> None:
    source, host_json, refusal = BROKEN[broken]

    done = start(tmp_path, source, host_json)

    assert done.returncode == 1, done.stderr[-2000:]
    assert refusal in done.stderr
    assert "the Functions host would not run this app as it is" in done.stderr


def test_against_azure_a_trigger_connection_that_no_setting_defines_is_refused(tmp_path: Path) -> None:
    done = start(tmp_path, EVENT_HUB_FUNCTION, HOST_JSON, "--backend", "azure", "--settings", "missing.json")

    assert done.returncode == 1, done.stderr[-2000:]
    assert "The 'listener' function is in error: the connection 'HUB' of binding 'events' is not defined" in (
        done.stderr
    )
