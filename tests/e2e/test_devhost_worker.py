"""The dev host runs whatever app it is given through the real worker, and does what the Functions host does
when the worker refuses the app or a function fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.test_devhost_pipeline import REPO, dev_host

pytestmark = pytest.mark.e2e


def app_dir(tmp_path: Path, source: str) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    shutil.copy(REPO / "host.json", folder / "host.json")
    (folder / "function_app.py").write_text(textwrap.dedent(source))
    return folder


def test_the_dev_host_refuses_to_start_an_app_the_worker_cannot_index_naming_the_function(
    tmp_path: Path,
) -> None:
    folder = app_dir(
        tmp_path,
        """
        import azure.functions as func

        app = func.FunctionApp()

        @app.event_hub_message_trigger(
            arg_name="events", connection="C", event_hub_name="h", cardinality="many"
        )
        def handler(events: list[func.EventHubEvent]) -> None:
            pass
        """,
    )

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.tools.devhost",
            "--app-dir",
            str(folder),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "cannot load the handler function: binding events has invalid non-type annotation" in done.stderr
    assert "no function is loaded" in done.stderr


def test_a_function_that_raises_answers_500_with_no_body_and_a_wrong_method_404_as_the_host_does(
    tmp_path: Path,
) -> None:
    folder = app_dir(
        tmp_path,
        """
        import azure.functions as func

        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

        @app.route(route="health")
        def health(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")

        @app.route(route="boom", methods=["GET"])
        def boom(req: func.HttpRequest) -> func.HttpResponse:
            raise RuntimeError("failed on purpose")
        """,
    )

    with dev_host(tmp_path / "data", "--app-dir", str(folder)) as (client, _):
        answer = client.get("/boom")
        wrong_method = client.post("/boom")

    assert answer.status_code == 500
    assert answer.content == b""
    assert (wrong_method.status_code, wrong_method.content) == (404, b"")
    log = (tmp_path / "data" / "devhost.log").read_text()
    assert "RuntimeError: failed on purpose" in log
