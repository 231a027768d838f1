"""The dev host: runs function_app.py the way the Functions host does, on embedded backends.

The app is indexed, loaded and invoked by the Python worker Azure runs for it (infra/tools/worker.py drives
azure-functions-runtime through the host's protocol messages); the dev host keeps the host's own jobs.
HTTP functions are served by uvicorn at the same port and route prefix as `func start`; the Cosmos DB
trigger is fed from the embedded change feed, the Event Hubs trigger from the embedded hub. Checkpoints
(the change-feed lease, the hub's per-partition checkpoints) move only after a function returned.

    python -m infra.tools.devhost [--port 7071] [--data-dir .data]

Its size (about 500 lines) is the host's own jobs that belong together: routing and serving HTTP, starting
the trigger pumps (infra/tools/pumps.py), the trigger processes, and the command line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infra.entry import bootstrap
from infra.entry.services import ServiceDefinition, binding_setting_defaults
from infra.entry.settings import SettingsError, load_local_settings
from infra.tools import bindings, host_rules
from infra.tools import function_rpc_pb2 as rpc
from infra.tools.easyauth import DEFAULT_USER_NAME, DEFAULT_USER_ROLES, EasyAuth, local_user
from infra.tools.pumps import ChangeFeedPump, Chaos, HubPartitionPump, Invoker, TimerPump, Turns
from infra.tools.worker import FunctionMetadata, PythonWorker, WorkerError

log = logging.getLogger("eventbank.devhost")


MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's own limit


DEFAULT_POLL_SECONDS = 0.25  # a fallback: in-process appends and publishes wake the triggers at once


# Trigger invocations of one process running at once (see pumps.Turns: more only contend for the GIL; two
# let a long one, a timer's sweep, run beside the others).
DEFAULT_TRIGGER_CONCURRENCY = 2


# In a trigger process a relay cannot be woken by another process's appends (the HTTP functions', another
# hub's reactions): it polls the change feed this often instead (an indexed read, about 0.1 ms: 1% of a
# core).
FEED_POLL_SECONDS = 0.01


PARENT_CHECK_SECONDS = 0.5


ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")


class AnyPath(Convertor[str]):
    """Every path, line breaks included (Starlette's own `path` stops at one, and answers text/plain 404):
    which function takes it is for the routes below to say, as the host's routing does."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP function's route template (`accounts/{id}/deposits`, under the route prefix) as a pattern."""

    function: FunctionMetadata
    methods: frozenset[str]
    pattern: re.Pattern[str]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 parameter, 2 catch-all; lower ranks first

    @classmethod
    def of(cls, function: FunctionMetadata, template: str, methods: frozenset[str]) -> HttpRoute:
        parts, rank = [], []
        for segment in template.split("/"):
            parameter = re.fullmatch(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?(\??)\}", segment)
            if parameter is None:
                parts.append(re.escape(segment))
                rank.append(0)
                continue
            catch_all, name, optional = parameter.groups()
            value = f"(?P<{name}>.*)" if catch_all else f"(?P<{name}>[^/]+)"
            parts.append(f"(?:{value})?" if optional or catch_all else value)
            rank.append(2 if catch_all else 1)
        # a parameter takes any character, a line break included, as ASP.NET Core routing does
        pattern = re.compile("/".join(parts).replace("/(?:", "/?(?:"), re.IGNORECASE | re.DOTALL)
        return cls(function, methods, pattern, tuple(rank))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: value for name, value in found.groupdict().items() if value is not None}


class DevHost:
    def __init__(
        self,
        python: PythonWorker,
        host_json: dict[str, Any],
        poll_seconds: float,
        base_url: str = "",
        chaos: Chaos | None = None,
        trigger_processes: Sequence[list[str]] = (),
        feed_poll_seconds: float | None = None,
        triggers: bool = True,
        trigger_concurrency: int = DEFAULT_TRIGGER_CONCURRENCY,
        only: frozenset[str] | None = None,
        easy_auth: EasyAuth | None = None,
    ) -> None:
        self.python = python
        # False: only the HTTP functions run (the relays, read models, reactions and timers do not)
        self.triggers = triggers
        self.functions = python.functions
        self.chaos = chaos
        # the command lines of the processes that run the non-HTTP triggers (none: threads of this one)
        self.trigger_processes = list(trigger_processes)
        # the functions whose triggers this process runs (None: all of them)
        self.only = only
        self.feed_poll_seconds = poll_seconds if feed_poll_seconds is None else feed_poll_seconds
        self.base_url = base_url
        self.extensions = host_json.get("extensions", {})
        self.route_prefix = str(self.extensions.get("http", {}).get("routePrefix", "api")).strip("/")
        self.poll_seconds = poll_seconds
        self.turns = Turns(trigger_concurrency)
        self.easy_auth = easy_auth or EasyAuth()
        self.stop = threading.Event()
        self.pumps: list[threading.Thread] = []

    def routes(self) -> list[HttpRoute]:
        """The HTTP functions' routes, most specific first (literal segments before parameters), as the
        host's routing ranks them."""
        routes = []
        for function in self.functions:
            trigger = function.trigger
            if trigger["type"] != "httpTrigger":
                continue
            # as the host: no route means the function's name; no methods means every method
            route = _resolve(trigger.get("route")) or function.name
            template = "/".join(part for part in (self.route_prefix, route.strip("/")) if part)
            methods = frozenset(str(method).upper() for method in trigger.get("methods") or ALL_METHODS)
            routes.append(HttpRoute.of(function, template, methods))
            log.info("  %s: [%s] %s/%s", function.name, ",".join(sorted(methods)), self.base_url, template)
        return sorted(routes, key=lambda route: route.rank)

    def _dispatcher(self) -> Callable[[Request], Any]:
        routes = self.routes()

        async def dispatch(request: Request) -> Response:
            # as ASP.NET Core routing: paths match ignoring case and a trailing slash; a path whose route
            # takes other methods, or no route at all, is a 404 with no body
            path = request.scope["path"].strip("/")
            for route in routes:
                values = route.match(path)
                if values is not None and request.method in route.methods:
                    return await self._invoke_http(route.function, request, values)
            return Response(status_code=404)

        return dispatch

    async def _invoke_http(
        self, function: FunctionMetadata, request: Request, route_values: dict[str, str]
    ) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return Response(status_code=413)
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:  # a chunked body declares no length
            return Response(status_code=413)
        binding = bindings.http_request(
            method=request.method,
            url=str(request.url),
            headers=self.easy_auth.headers(request.headers.items()),
            query=request.query_params.multi_items(),
            route_params=route_values,
            body=body,
        )
        started = time.perf_counter()
        response = await self.python.invoke_async(function, binding)
        result = bindings.http_result(response)
        if response.result.status != rpc.StatusResult.Success:
            log.error(
                "Executed 'Functions.%s' (%s %s -> Failed, answered 500): %s\n%s",
                function.name,
                request.method,
                request.url.path,
                response.result.exception.message,
                response.result.exception.stack_trace,
            )
        else:
            log.info(
                "Executed 'Functions.%s' (%s %s -> %d, Duration=%dms)",
                function.name,
                request.method,
                request.url.path,
                result.status,
                (time.perf_counter() - started) * 1000,
            )
        answer = Response(result.body, status_code=result.status, headers=result.headers)
        answer.raw_headers.extend((b"set-cookie", cookie.encode("latin-1")) for cookie in result.cookies)
        return answer

    def start_triggers(self) -> None:
        root = bootstrap.root()
        batch_size = int(self.extensions.get("eventHubs", {}).get("maxEventBatchSize", 100))
        for function in self.functions:
            trigger = function.trigger
            if self.only is not None and function.name not in self.only:
                continue
            invoker = Invoker(self.python, function, self.stop, self.turns)
            if trigger["type"] == "cosmosDBTrigger":
                container = _resolve(trigger["containerName"])
                prefix = trigger.get("leaseContainerPrefix") or ""
                lease = _resolve(f"{prefix}{trigger.get('leaseContainerName') or 'leases'}")
                feed = root.change_feed(container, lease)
                pump = ChangeFeedPump(
                    invoker,
                    feed,
                    int(trigger.get("maxItemsPerInvocation") or 100),
                    self.feed_poll_seconds,
                )
                log.info("  %s: cosmosDBTrigger <- %s", function.name, feed.description)
                self.pumps.append(pump)
            elif trigger["type"] == "timerTrigger":
                schedule = _resolve(trigger["schedule"])
                self.pumps.append(TimerPump(invoker, schedule))
                log.info("  %s: timerTrigger <- %s", function.name, schedule)
            elif trigger["type"] == "eventHubTrigger":
                hub_name = _resolve(trigger["eventHubName"])
                group = _resolve(trigger.get("consumerGroup") or "$Default")
                many = str(trigger.get("cardinality", "one")).lower() == "many"
                partitions = root.hub_partitions(hub_name, group)
                for source in partitions:
                    self.pumps.append(
                        HubPartitionPump(
                            invoker,
                            source,
                            batch_size,
                            many,
                            self.poll_seconds,
                            self.chaos,
                            hub=hub_name,
                            consumer_group=group,
                        )
                    )
                log.info(
                    "  %s: eventHubTrigger <- %d partitions of %s (%s)",
                    function.name,
                    len(partitions),
                    hub_name,
                    group,
                )
        for started in self.pumps:
            started.start()

    def stop_triggers(self) -> None:
        self.stop.set()
        for stopping in self.pumps:
            stopping.join(timeout=10)
        bootstrap.reset()

    def asgi(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            if not self.triggers:
                log.warning("triggers are off: the HTTP functions run, the relays and the read models do not")
                try:
                    yield
                finally:
                    bootstrap.reset()
                return
            if not self.trigger_processes:
                self.start_triggers()
                try:
                    yield
                finally:
                    self.stop_triggers()
                    log.info("Dev host stopped; checkpoints are saved, the next start resumes from them.")
                return
            processes = [subprocess.Popen(command) for command in self.trigger_processes]
            stopping, lock = threading.Event(), threading.Lock()

            def watch(triggers: subprocess.Popen[bytes]) -> None:
                code = triggers.wait()
                # 0: it stopped as asked (Ctrl+C reaches every process); else relays or read models are
                # gone: stop, plainly, and once (a second SIGINT makes uvicorn skip its shutdown)
                with lock:
                    if code == 0 or stopping.is_set():
                        return
                    stopping.set()
                log.error("a trigger process exited (code %s): stopping the dev host", code)
                os.kill(os.getpid(), signal.SIGINT)

            for triggers in processes:
                threading.Thread(
                    target=watch, args=(triggers,), name="trigger-process-watch", daemon=True
                ).start()
            try:
                yield
            finally:
                stopping.set()
                for triggers in processes:
                    triggers.send_signal(signal.SIGINT)
                for triggers in processes:
                    try:
                        triggers.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        triggers.kill()
                        triggers.wait()
                bootstrap.reset()
                log.info("Dev host stopped; checkpoints are saved, the next start resumes from them.")

        register_url_convertor("anything", AnyPath())
        every_path = Route("/{path:anything}", self._dispatcher(), methods=list(ALL_METHODS))
        return Starlette(routes=[every_path], lifespan=lifespan)


def trigger_groups(
    definitions: Sequence[ServiceDefinition], functions: Sequence[FunctionMetadata]
) -> list[frozenset[str]]:
    """The non-HTTP functions in one trigger process per hub: the relay that publishes to the hub and every
    function that reads it, so a publish wakes its readers in the same process, and the hubs' work runs on
    separate cores (in one process, the pumps of both services took turns at one GIL: a transfer, eight
    hops from process to process, took p99 1.7 s at 50 a second there, 0.14 s split by hub). An append made in
    another process (the HTTP functions, another hub's reactions) is found by the change feed's poll
    (FEED_POLL_SECONDS). Any other trigger (a timer) runs in the first process."""
    triggered = [function.name for function in functions if function.trigger["type"] != "httpTrigger"]
    by_hub = {
        definition.hub: {definition.relay_function, definition.projector_function}
        for definition in definitions
    }
    for definition in definitions:
        for subscription in definition.subscriptions:
            if subscription.hub not in by_hub:
                raise ValueError(
                    f"{subscription.function} reads the hub {subscription.hub!r}, which no service here owns"
                )
            by_hub[subscription.hub].add(subscription.function)
    groups = [group & set(triggered) for group in by_hub.values()]
    groups = [group for group in groups if group] or [set()]
    placed = set().union(*groups)
    groups[0] |= {name for name in triggered if name not in placed}
    return [frozenset(group) for group in groups if group]


def _resolve(value: str | None) -> str:
    """Binding expressions %NAME% are app settings, resolved from the environment like the host does."""

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        return os.environ.get(name) or binding_setting_defaults(bootstrap.root().definitions)[name]

    return host_rules.SETTING_EXPRESSION.sub(setting, value or "")


class BackendName(StrEnum):
    embedded = "embedded"
    azure = "azure"


class AuthMode(StrEnum):
    user = "user"
    test = "test"


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@cli.command(help=(__doc__ or "").split("\n\n")[0])
def main(
    port: Annotated[int, typer.Option(envvar="PORT")] = 7071,
    host: Annotated[str, typer.Option(envvar="HOST")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option(envvar=["DATA_DIR", "EVENTBANK_DATA_DIR"])] = Path(".data"),
    app_dir: Annotated[Path, typer.Option(help="the folder of function_app.py and host.json")] = Path("."),
    poll_ms: Annotated[float, typer.Option()] = DEFAULT_POLL_SECONDS * 1000,
    backend: Annotated[
        BackendName,
        typer.Option(help="azure: Cosmos DB and Event Hubs (real or emulated) instead of the SQLite files"),
    ] = BackendName.embedded,
    chaos_spec: Annotated[
        str,
        typer.Option(
            "--chaos",
            envvar="EVENTBANK_DEVHOST_CHAOS",
            help="inject faults into Event Hubs deliveries, e.g. duplicate=0.3,reorder=0.5,crash=0.2,seed=7",
        ),
    ] = "",
    settings: Annotated[
        Path, typer.Option(help="with --backend azure: the file whose Values are loaded into the environment")
    ] = Path("local.settings.json"),
    single_process: Annotated[
        bool,
        typer.Option(
            help="run the relays, read models and reactions as threads of the HTTP process, not in trigger "
            "processes of their own (one per hub)"
        ),
    ] = False,
    triggers: Annotated[
        bool,
        typer.Option(
            help="--no-triggers: serve the HTTP functions only, without the relays, read models and "
            "reactions (for a Cosmos DB endpoint with no Event Hubs beside it)"
        ),
    ] = True,
    trigger_concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="EVENTBANK_DEVHOST_TRIGGER_CONCURRENCY",
            help="trigger invocations (relays, read models, reactions, timers) running at once, in turn",
        ),
    ] = DEFAULT_TRIGGER_CONCURRENCY,
    auth: Annotated[
        AuthMode,
        typer.Option(
            envvar="EVENTBANK_DEVHOST_AUTH",
            help="user: every request is the local user's, as behind Easy Auth; test: the client's "
            "X-MS-CLIENT-PRINCIPAL* headers are taken as sent (none: nobody signed in)",
        ),
    ] = AuthMode.user,
    user_name: Annotated[
        str, typer.Option(envvar="EVENTBANK_DEVHOST_USER", help="the local user's name (their id follows)")
    ] = DEFAULT_USER_NAME,
    user_roles: Annotated[
        str,
        typer.Option(
            envvar="EVENTBANK_DEVHOST_USER_ROLES", help="the local user's app roles, comma-separated"
        ),
    ] = ",".join(DEFAULT_USER_ROLES),
    triggers_only: Annotated[bool, typer.Option(hidden=True)] = False,
    functions: Annotated[str, typer.Option(hidden=True, help="with --triggers-only: whose triggers")] = "",
) -> None:
    if triggers_only and not triggers:
        raise typer.BadParameter(
            "--no-triggers leaves a trigger process nothing to run", param_hint="--triggers-only"
        )
    try:
        chaos = Chaos.parse(chaos_spec) if chaos_spec else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--chaos") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDKs log every request at INFO
    logging.getLogger("azure.functions").setLevel(logging.WARNING)  # and the worker every invocation
    os.environ["EVENTBANK_DATA_DIR"] = str(data_dir.resolve())
    if backend is BackendName.azure and not load_local_settings(settings):
        log.warning("%s not found: the Azure settings must come from the environment", settings)
    os.environ["EVENTBANK_BACKEND"] = backend.value
    # the dev host plays Easy Auth (infra/tools/easyauth.py): the identity headers the functions see are its
    os.environ["EVENTBANK_IDENTITY_HEADERS"] = "local"
    app_dir = app_dir.resolve()
    host_json = json.loads((app_dir / "host.json").read_text())
    log.info("eventbank dev host (%s backend): data in %s", backend.value, os.environ["EVENTBANK_DATA_DIR"])
    python = PythonWorker(app_dir)
    try:
        python.start()  # the worker indexes and loads the app, as at a Functions host's start
    except WorkerError as error:
        log.error("%s: no function is loaded, as in Azure", error)
        raise SystemExit(1) from None
    refusals = host_rules.check_app(
        python.functions,
        host_json,
        os.environ,
        check_connections=backend is BackendName.azure,
        defaults=binding_setting_defaults(),
    )
    for refusal in refusals:
        where = (
            f"The '{refusal.function}' function is in error" if refusal.function else "The host is in error"
        )
        log.error("%s: %s", where, refusal.rule)
    if refusals:
        log.error("the Functions host would not run this app as it is: fix it before it starts here")
        raise SystemExit(1)
    try:
        bootstrap.root()  # fail here, plainly, rather than inside the server's start-up
    except SettingsError as error:
        log.error("%s", error)
        raise SystemExit(2) from None
    except Exception as error:
        log.error(
            "cannot reach the %s backend: %s (are the emulators up? docker compose up -d)",
            backend.value,
            error,
        )
        raise SystemExit(1) from None
    if auth is AuthMode.test:
        log.warning("Easy Auth, test mode: the clients' X-MS-CLIENT-PRINCIPAL* headers are taken as sent")
    else:
        log.info("Easy Auth: every request is %s's (roles: %s)", user_name, user_roles or "none")
    log.info("Functions:")
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    if chaos is not None:
        log.warning("chaos: %s", chaos)
    if triggers_only:
        # the embedded change feed is a local read; Cosmos DB's would cost a request each time
        feed_poll = FEED_POLL_SECONDS if backend is BackendName.embedded else None
        _run_triggers(
            DevHost(
                python,
                host_json,
                poll_ms / 1000,
                chaos=chaos,
                feed_poll_seconds=feed_poll,
                trigger_concurrency=trigger_concurrency,
                only=frozenset(functions.split(",")) if functions else None,
            )
        )
        return
    trigger_processes = []
    if triggers and not single_process:
        trigger_process = [
            sys.executable,
            "-m",
            "infra.tools.devhost",
            "--triggers-only",
            f"--data-dir={os.environ['EVENTBANK_DATA_DIR']}",
            f"--app-dir={app_dir}",
            f"--poll-ms={poll_ms}",
            f"--backend={backend.value}",
            f"--chaos={chaos_spec}",
            f"--settings={settings}",
            f"--trigger-concurrency={trigger_concurrency}",
        ]
        groups = trigger_groups(bootstrap.root().definitions, python.functions)
        trigger_processes = [[*trigger_process, f"--functions={','.join(sorted(group))}"] for group in groups]
    dev_host = DevHost(
        python,
        host_json,
        poll_ms / 1000,
        base_url=f"http://{shown_host}:{port}",
        chaos=chaos,
        trigger_processes=trigger_processes,
        triggers=triggers,
        trigger_concurrency=trigger_concurrency,
        easy_auth=EasyAuth(
            trust_client=auth is AuthMode.test, user=local_user(user_name, user_roles.split(","))
        ),
    )
    uvicorn.run(dev_host.asgi(), host=host, port=port, log_level="warning")


def _run_triggers(host: DevHost) -> None:
    """A trigger process: its functions' triggers (a hub's relay and readers) until SIGINT or SIGTERM, or
    until the HTTP process that started it is gone."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    parent = os.getppid()
    host.start_triggers()
    while not stop.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent:
            log.warning("the dev host's HTTP process is gone: stopping the triggers")
            break
    host.stop_triggers()


if __name__ == "__main__":
    cli()
