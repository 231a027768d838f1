"""The dev host's side of the Functions language-worker protocol: it runs an app through the Python worker
that Azure runs for it, `azure-functions-runtime` (pinned in requirements.txt).

In Azure the Functions host speaks gRPC to a proxy worker, which hands each request to that worker library
in its own process. Here the dev host is host and proxy at once: it builds the host's messages
(infra/tools/function_rpc.proto), hands them to the library's handlers on one event loop, and reads the
answers.
Indexing (the worker's function-metadata request), the load checks, argument decoding and invocation are
all the library's own code; what the host would refuse at load, it refuses here.

    python -m infra.tools.worker [APP_DIR]   # index and load the app as Azure would; exit 1 naming what fails
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import azure_functions_runtime as runtime
import typer

from infra.tools import function_rpc_pb2 as rpc

log = logging.getLogger("eventbank.worker")


HOST_VERSION = "4.1045.0.0"  # what the dev host reports itself as: a Functions 4.x host


# What a current host tells the Python worker it can do (the worker answers with its own capabilities).
HOST_CAPABILITIES = {"RpcHttpBodyOnly": "true", "RawHttpBodyBytes": "true", "TypedDataCollection": "true"}


SCRIPT_FILE = "function_app.py"


class WorkerError(RuntimeError):
    """The worker refused: the app failed to index or load, or an invocation failed. The message is the
    worker's own (for most load errors: "cannot load the <function> function: <rule>"); `exception` is the
    RpcException the worker sent, with its stack trace."""

    def __init__(self, message: str, exception: rpc.RpcException | None = None) -> None:
        super().__init__(message)
        self.exception = exception


@dataclass(frozen=True)
class RetryOptions:
    """A function's retry policy as the worker reports it to the host (RpcRetryOptions); an interval the
    worker leaves out takes the default here. The defaults alone are no policy: no retries."""

    strategy: str = "fixed_delay"
    max_retry_count: int = 0
    delay: float = 1.0
    minimum: float = 1.0
    maximum: float = 60.0


@dataclass(frozen=True)
class FunctionMetadata:
    """One indexed function as the host sees it: its id, name, bindings (function.json's JSON) and retry."""

    function_id: str
    name: str
    bindings: tuple[dict[str, Any], ...]
    retry: RetryOptions | None

    @functools.cached_property
    def trigger(self) -> dict[str, Any]:
        return next(b for b in self.bindings if str(b.get("type", "")).endswith("Trigger"))


@dataclass
class _Request:
    """What the proxy worker hands the library's handlers: the host's message and the proxy's properties."""

    request: rpc.StreamingMessage
    properties: dict[str, Any] = field(default_factory=dict)


class _Runtime:
    """The library's process-wide state: one event loop (in a thread) for its handlers and its thread pool
    for synchronous functions, as the proxy worker runs them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="functions-worker", daemon=True)
        self.thread.start()
        self.pool_started = False
        self.lock = threading.Lock()

    def submit[T](self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


_runtime: _Runtime | None = None


_runtime_lock = threading.Lock()


_claimed: dict[str, PythonWorker] = {}  # function id -> the app that indexed it


def _the_runtime() -> _Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _Runtime()
        return _runtime


class PythonWorker:
    """One function app indexed and loaded by the worker library; invoke its functions by id or name.

    The library keeps one registry per process, as under the proxy worker: it finds an app by its script
    file's module name and names functions by their names, so two apps in one process (tests do that) need
    different script names and different function names."""

    def __init__(self, app_dir: Path, script_file: str = SCRIPT_FILE) -> None:
        self.app_dir = app_dir.resolve()
        self.script_file = script_file
        self.functions: list[FunctionMetadata] = []
        self._by_name: dict[str, FunctionMetadata] = {}

    def start(self) -> list[FunctionMetadata]:
        """Init (the worker indexes the app), function metadata, then a load request per function, as the
        host does at start-up. Raises WorkerError with the worker's message if any step fails."""
        the_runtime = _the_runtime()
        with the_runtime.lock:
            if str(self.app_dir) not in sys.path:
                sys.path.insert(0, str(self.app_dir))
            previous_script = _set_env("PYTHON_SCRIPT_FILE_NAME", self.script_file)
            try:
                init = self._call(
                    runtime.worker_init_request,
                    rpc.StreamingMessage(
                        worker_init_request=rpc.WorkerInitRequest(
                            host_version=HOST_VERSION,
                            capabilities=HOST_CAPABILITIES,
                            worker_directory=str(Path(runtime.__file__).parent),
                            function_app_directory=str(self.app_dir),
                        )
                    ),
                )
                _raise_on_failure("the worker failed to index the app", init.result)
                metadata = self._call(
                    runtime.functions_metadata_request,
                    rpc.StreamingMessage(
                        functions_metadata_request=rpc.FunctionsMetadataRequest(
                            function_app_directory=str(self.app_dir)
                        )
                    ),
                )
            finally:
                _set_env("PYTHON_SCRIPT_FILE_NAME", previous_script)
            _raise_on_failure("the worker failed to index the app", metadata.result)
            if metadata.use_default_metadata_indexing or not metadata.function_metadata_results:
                raise WorkerError(f"the worker found no functions in {self.app_dir / self.script_file}")
            for function in metadata.function_metadata_results:
                loaded = self._call(
                    runtime.function_load_request,
                    rpc.StreamingMessage(
                        function_load_request=rpc.FunctionLoadRequest(
                            function_id=function.function_id, metadata=function
                        )
                    ),
                )
                _raise_on_failure(f"the worker failed to load {function.name}", loaded.result)
            if not the_runtime.pool_started:
                runtime.start_threadpool_executor()
                the_runtime.pool_started = True
            functions = [_metadata_of(function) for function in metadata.function_metadata_results]
            # the library derives a function's id from its name and keeps one registry per process: a
            # second app with a function of the same name would take over the first app's
            taken = [f.name for f in functions if _claimed.setdefault(f.function_id, self) is not self]
            if taken:
                raise WorkerError(f"another app in this process already has functions named {taken}")
        self.functions = functions
        self._by_name = {function.name: function for function in self.functions}
        return self.functions

    def function(self, name: str) -> FunctionMetadata:
        try:
            return self._by_name[name]
        except KeyError:
            raise LookupError(f"the worker indexed no function called {name!r}") from None

    async def invoke_async(
        self,
        function: FunctionMetadata,
        argument: rpc.TypedData,
        trigger_metadata: Mapping[str, rpc.TypedData] | None = None,
        retry: rpc.RetryContext | None = None,
    ) -> rpc.InvocationResponse:
        """One invocation request (the trigger's binding as the host encodes it, its trigger metadata and, on
        a retry, the retry context), handled on the running event loop: an async server awaits it without a
        hop to another thread; the function itself runs on the worker's thread pool either way."""
        request = rpc.InvocationRequest(
            invocation_id=str(uuid.uuid4()),
            function_id=function.function_id,
            input_data=[rpc.ParameterBinding(name=function.trigger["name"], data=argument)],
            trigger_metadata=dict(trigger_metadata or {}),
            retry_context=retry,
        )
        message = rpc.StreamingMessage(invocation_request=request)
        response: rpc.InvocationResponse = await runtime.invocation_request(_Request(message, _PROPERTIES))
        return response

    def invoke(
        self,
        function: FunctionMetadata,
        argument: rpc.TypedData,
        trigger_metadata: Mapping[str, rpc.TypedData] | None = None,
        retry: rpc.RetryContext | None = None,
    ) -> rpc.InvocationResponse:
        """invoke_async() from any thread, on the worker's event loop, waited for; raises WorkerError if the
        function failed."""
        response = self.runtime_call(self.invoke_async(function, argument, trigger_metadata, retry))
        _raise_on_failure(f"'Functions.{function.name}' failed", response.result)
        return response

    def runtime_call[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine of the worker's on its event loop, from any other thread, and waits for it."""
        return _the_runtime().submit(coroutine).result()

    def _call(self, handler: Any, message: rpc.StreamingMessage) -> Any:
        return self.runtime_call(handler(_Request(message, _PROPERTIES)))


# what the proxy worker's properties carry that the library reads: the host's address and the protos
_PROPERTIES: dict[str, Any] = {"host": "127.0.0.1", "protos": rpc}


def _set_env(name: str, value: str | None) -> str | None:
    previous = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    return previous


def _raise_on_failure(what: str, result: rpc.StatusResult) -> None:
    if result.status != rpc.StatusResult.Success:
        raise WorkerError(f"{what}: {result.exception.message or result.result}", result.exception)


def _metadata_of(function: rpc.RpcFunctionMetadata) -> FunctionMetadata:
    retry = None
    if function.HasField("retry_options"):
        options = function.retry_options
        strategy = rpc.RpcRetryOptions.RetryStrategy.Name(options.retry_strategy)
        seconds = {
            name: getattr(options, name).ToTimedelta().total_seconds()
            for name in ("delay_interval", "minimum_interval", "maximum_interval")
            if options.HasField(name)
        }
        default = RetryOptions()
        retry = RetryOptions(
            strategy=strategy,
            max_retry_count=options.max_retry_count,
            delay=seconds.get("delay_interval", default.delay),
            minimum=seconds.get("minimum_interval", default.minimum),
            maximum=seconds.get("maximum_interval", default.maximum),
        )
    return FunctionMetadata(
        function_id=function.function_id,
        name=function.name,
        bindings=tuple(json.loads(raw) for raw in function.raw_bindings),
        retry=retry,
    )


def main(app_dir: Annotated[Path, typer.Argument(help="the folder of function_app.py")] = Path(".")) -> None:
    """Index and load an app with the worker, as the host does at start; print its functions, or exit 1
    with the worker's refusal."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        functions = PythonWorker(app_dir).start()
    except WorkerError as error:
        log.error("%s", error)
        raise SystemExit(1) from None
    for function in functions:
        sys.stdout.write(f"{function.name}: {function.trigger['type']}\n")


if __name__ == "__main__":
    typer.run(main)
