"""A second service from its definition alone: its own log, hub, relay, projector and HTTP API, run by the
dev host through the real worker, with no line of the core naming it (tests/toy/counters.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.entry import bootstrap
from infra.entry.settings import Settings
from infra.tools.devhost import DevHost
from tests.toy.counters import COUNTERS
from tests.worker import REPO, index_app

pytestmark = pytest.mark.e2e

APP = """
import azure.functions as func

from infra.entry.triggers import trigger_blueprint
from tests.toy.counters import COUNTERS

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(COUNTERS.http)
app.register_functions(trigger_blueprint(COUNTERS))
"""


def test_a_command_on_a_second_service_reaches_its_read_model_on_the_dev_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COUNTERS.lease_prefix_setting, COUNTERS.lease_prefix)
    python, _ = index_app(tmp_path / "app", APP)
    bootstrap.install(
        bootstrap.Root(
            # the dev host plays Easy Auth (its command line says so; here, the settings)
            Settings(backend="embedded", data_dir=tmp_path / "data", identity_headers="local"),
            services=[COUNTERS],
        )
    )
    host = DevHost(python, json.loads((REPO / "host.json").read_text()), poll_seconds=0.05)
    counter = uuid.uuid4()
    host.start_triggers()
    try:
        first = request(host, "POST", f"/api/counters/{counter}/increments", json={"by": 2})
        second = request(host, "POST", f"/api/counters/{counter}/increments", json={"by": 3})
        seen = wait_for_total(host, counter, 5)
    finally:
        host.stop_triggers()  # and forgets the root

    assert (first.status_code, first.json(), second.json()) == (
        200,
        {"version": 1, "total": 2},
        {"version": 2, "total": 5},
    )
    assert seen == {"total": 5}
    assert {function.name for function in python.functions} == {
        "increment_counter",
        "get_counter",
        COUNTERS.relay_function,
        COUNTERS.projector_function,
    }
    assert (tmp_path / "data" / "counters" / "events.sqlite").exists()  # its own log
    assert (tmp_path / "data" / "counters" / "hub.sqlite").exists()  # and its own hub


def request(host: DevHost, method: str, path: str, **options: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=host.asgi())
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost:7071") as client:
            return await client.request(method, path, **options)

    return asyncio.run(send())


def wait_for_total(host: DevHost, counter: uuid.UUID, total: int) -> object:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = request(host, "GET", f"/api/counters/{counter}")
        if answer.status_code == 200 and answer.json()["total"] == total:
            return answer.json()
        time.sleep(0.05)
    raise AssertionError(f"the counter's read model never showed {total}")


def test_no_line_of_the_core_names_the_second_service() -> None:
    core = [REPO / "function_app.py", *sorted((REPO / "infra").rglob("*.py"))]

    naming = [str(path.relative_to(REPO)) for path in core if COUNTERS.name in path.read_text().lower()]

    assert core
    assert naming == []
