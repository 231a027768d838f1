"""function_app.py as the tests call it: through the real Python worker (azure-functions-runtime), indexed
and loaded once per test process, each call an invocation request encoded as the Functions host encodes
it, as the dev host and Azure run it."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

from infra.ports.sources import HubMessage
from infra.tools import bindings
from infra.tools.worker import FunctionMetadata, PythonWorker

REPO = Path(__file__).resolve().parents[1]


@cache
def app_worker() -> PythonWorker:
    """The worker with function_app.py indexed and every function loaded (once: the worker library keeps
    one registry per process, and FunctionApp.get_functions() refuses to index the same app twice)."""
    python = PythonWorker(REPO)
    python.start()
    return python


class WorkerFunction:
    """One of function_app's functions, called through the worker: HTTP functions take and give the
    azure.functions request and response; the relay takes change-feed documents, the projector hub
    messages."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __repr__(self) -> str:
        return self.__name__

    @property
    def metadata(self) -> FunctionMetadata:
        return app_worker().function(self.__name__)

    def __call__(self, argument: Any) -> Any:
        function = self.metadata
        kind = function.trigger["type"]
        if kind == "httpTrigger":
            return _http(function, argument)
        if kind == "cosmosDBTrigger":
            return _documents(function, argument)
        if kind == "eventHubTrigger":
            return _events(function, argument)
        if kind == "timerTrigger":  # argument: whether this run is past due
            now = datetime.now(UTC)
            return app_worker().invoke(function, bindings.timer_info(None, now, past_due=bool(argument)))
        raise NotImplementedError(kind)  # pragma: no cover


class WorkerFunctions:
    """`functions.deposit(request)`: function_app's functions by name, through the worker."""

    def __getattr__(self, name: str) -> WorkerFunction:
        if name.startswith("__"):
            raise AttributeError(name)
        return WorkerFunction(name)


functions = WorkerFunctions()


def _http(function: FunctionMetadata, req: func.HttpRequest) -> func.HttpResponse:
    """The request encoded, and the answer decoded, by the same code as the dev host's HTTP endpoints."""
    binding = bindings.http_request(
        method=req.method,
        url=req.url,
        headers=req.headers.items(),
        query=req.params.items(),
        route_params=dict(req.route_params),
        body=req.get_body(),
    )
    python = app_worker()
    result = bindings.http_result(python.runtime_call(python.invoke_async(function, binding)))
    content_type = result.headers.get("content-type", "")
    return func.HttpResponse(
        result.body,
        status_code=result.status,
        headers=result.headers,
        mimetype=content_type.split(";")[0].strip() or None,
    )


def _documents(function: FunctionMetadata, documents: Sequence[Mapping[str, Any]]) -> None:
    app_worker().invoke(function, bindings.document_list(documents))


def _events(function: FunctionMetadata, messages: Sequence[HubMessage]) -> None:
    trigger = function.trigger
    partition = bindings.PartitionContext(trigger["eventHubName"], trigger["consumerGroup"], "0")
    app_worker().invoke(function, *bindings.event_batch(messages, partition))


def index_app(directory: Path, source: str) -> tuple[PythonWorker, ModuleType]:
    """Indexes and loads a small app written for a test (its own script name, so it sits beside
    function_app in the worker's one registry); returns the worker and the app's module."""
    directory.mkdir(parents=True, exist_ok=True)
    module = f"test_app_{uuid.uuid4().hex}"
    (directory / f"{module}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()  # the import system may have listed the folder before the file existed
    python = PythonWorker(directory, script_file=f"{module}.py")
    python.start()
    return python, sys.modules[module]
