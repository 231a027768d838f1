"""function_app.py under the real Python worker (azure-functions-runtime, the one requirements.txt pins and
Azure runs): it indexes and loads, the worker's load rules are live (a broken app is refused, naming the
function and the rule), and each trigger's input arrives as the Functions host would encode it."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest

from infra.adapters.sqlite.hub import EmbeddedHub
from infra.ports.publisher import OutgoingMessage
from infra.tools import bindings
from infra.tools.worker import PythonWorker, WorkerError
from tests.worker import REPO, app_worker, index_app

HTTP_FUNCTIONS = {
    "open_account",
    "deposit",
    "withdraw",
    "close_account",
    "get_account",
    "account_history",
    "account_state",
    "account_statement",
    "list_accounts",
    "daily_report",
    "status",
    "dead_letters",
    "replay_dead_letters",
    "verify_event_log",
    "forget",
    "health",
    "deep_health",
    "request_transfer",
    "get_transfer",
    "transfer_history",
    "transfer_state",
    "account_transfers",
    "unknown_route",
    "openapi",
    "docs",
    "docs_asset",
}
RELAYS = {"relay_account_events", "relay_transfer_events"}
TIMERS = {"expire_transfers"}
HUB_READERS = {
    "project_read_models",
    "project_transfer_read_models",
    "move_money_for_transfers",
    "advance_transfers",
}


# --- function_app.py indexes and loads ---


def test_function_app_indexes_and_every_function_loads_under_the_real_worker() -> None:
    functions = {function.name: function for function in app_worker().functions}

    assert set(functions) == HTTP_FUNCTIONS | RELAYS | HUB_READERS | TIMERS
    for name in HTTP_FUNCTIONS:
        assert functions[name].trigger["type"] == "httpTrigger"
        assert {"type": "http", "direction": "OUT", "name": "$return"} in functions[name].bindings
    assert {functions[name].trigger["type"] for name in RELAYS} == {"cosmosDBTrigger"}
    assert {functions[name].trigger["type"] for name in HUB_READERS} == {"eventHubTrigger"}
    assert {functions[name].trigger["cardinality"] for name in HUB_READERS} == {"MANY"}
    assert all(functions[name].retry is not None for name in RELAYS | HUB_READERS)
    assert {functions[name].trigger["type"] for name in TIMERS} == {"timerTrigger"}


def test_the_worker_command_lists_the_functions_of_the_app_it_loaded() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infra.tools.worker", str(REPO)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )

    assert done.returncode == 0, done.stderr
    assert "project_read_models: eventHubTrigger" in done.stdout.splitlines()
    assert len(done.stdout.splitlines()) == len(HTTP_FUNCTIONS | RELAYS | HUB_READERS | TIMERS)


# --- the worker's load rules refuse a broken app, as Azure would ---

APP_HEADER = """
import typing
import azure.functions as func

app = func.FunctionApp()
"""

BROKEN_APPS = {
    "a PEP 585 list annotation on a binding": (
        """
        @app.event_hub_message_trigger(
            arg_name="events", connection="C", event_hub_name="h", cardinality="many"
        )
        def handler(events: list[func.EventHubEvent]) -> None:
            pass
        """,
        r"cannot load the handler function: binding events has invalid non-type annotation list\[",
    ),
    "a parameter declared in Python but bound to nothing": (
        """
        @app.route(route="x")
        def handler(req: func.HttpRequest, extra: str) -> func.HttpResponse:
            return func.HttpResponse("")
        """,
        r"cannot load the handler function: the following parameters are declared in Python but not",
    ),
    "a binding with no parameter in Python": (
        """
        @app.route(route="x")
        def handler() -> func.HttpResponse:
            return func.HttpResponse("")
        """,
        r"cannot load the handler function: Extra parameters in binding definition",
    ),
    "an HTTP function whose return annotation is not a response": (
        """
        @app.route(route="x")
        def handler(req: func.HttpRequest) -> int:
            return 1
        """,
        r'cannot load the handler function: Python return annotation "int" does not match binding type',
    ),
    "a trigger annotated with another trigger's type": (
        """
        @app.cosmos_db_trigger(
            arg_name="documents", connection="C", database_name="d", container_name="c"
        )
        def handler(documents: func.HttpRequest) -> None:
            pass
        """,
        r"cannot load the handler function: binding type .*documents.* annotation HttpRequest",
    ),
    "a retry interval with fractions of a second": (
        """
        @app.event_hub_message_trigger(
            arg_name="events", connection="C", event_hub_name="h", cardinality="many"
        )
        @app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:00.5")
        def handler(events: typing.List[func.EventHubEvent]) -> None:
            pass
        """,
        r"the worker failed to index the app: .*unconverted data remains: \.5",
    ),
}


@pytest.mark.parametrize("broken", BROKEN_APPS, ids=list(BROKEN_APPS))
def test_the_worker_refuses_an_app_that_breaks_a_load_rule_with_its_reason(
    broken: str, tmp_path: Path
) -> None:
    source, refusal = BROKEN_APPS[broken]

    with pytest.raises(WorkerError, match=refusal):
        index_app(tmp_path, APP_HEADER + source.replace("\n        ", "\n"))


def test_the_same_app_with_typing_list_loads(tmp_path: Path) -> None:
    """The control for the first refusal: only the annotation differs."""
    python, _ = index_app(
        tmp_path,
        APP_HEADER
        + """
@app.event_hub_message_trigger(arg_name="events", connection="C", event_hub_name="h", cardinality="many")
def control_handler(events: typing.List[func.EventHubEvent]) -> None:
    pass
""",
    )

    assert [function.name for function in python.functions] == ["control_handler"]


# --- each trigger's input arrives as the host encodes it ---

PROBE_APP = (
    APP_HEADER
    + """
import json

received: dict[str, object] = {}

@app.route(route="probe/{name}", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def probe_http(req: func.HttpRequest) -> func.HttpResponse:
    received["http"] = {
        "method": req.method,
        "url": req.url,
        "header": req.headers.get("X-Probe"),
        "query": dict(req.params),
        "route": dict(req.route_params),
        "body": req.get_body().decode(),
    }
    return func.HttpResponse("made", status_code=201, headers={"X-Answer": "42"}, mimetype="text/plain")

@app.cosmos_db_trigger(arg_name="documents", connection="C", database_name="d", container_name="c")
def probe_documents(documents: func.DocumentList) -> None:
    received["documents"] = [document.to_dict() for document in documents]

@app.event_hub_message_trigger(arg_name="events", connection="C", event_hub_name="h", cardinality="many")
def probe_events(events: typing.List[func.EventHubEvent]) -> None:
    received["events"] = [
        (event.get_body(), event.sequence_number, event.partition_key, event.enqueued_time, event.offset)
        for event in events
    ]
    received["partition"] = events[0].metadata["PartitionContext"] if events else None

@app.route(route="text", auth_level=func.AuthLevel.ANONYMOUS)
def probe_text(req: func.HttpRequest) -> str:
    return "just text"

@app.route(route="cookie", auth_level=func.AuthLevel.ANONYMOUS)
def probe_cookie(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("with a cookie")
    response.headers["Set-Cookie"] = "session=abc; Path=/api; HttpOnly; SameSite=Strict"
    return response

@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function failed on purpose")
"""
)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[PythonWorker, dict[str, object]]:
    python, module = index_app(tmp_path_factory.mktemp("probe"), PROBE_APP)
    return python, module.received


def test_an_http_request_reaches_the_function_whole_and_its_response_comes_back(
    probe: tuple[PythonWorker, dict[str, object]],
) -> None:
    python, received = probe
    request = bindings.http_request(
        method="PUT",
        url="http://localhost:7071/api/probe/ada?x=1",
        headers=[("x-probe", "yes"), ("content-type", "application/json")],
        query=[("x", "1")],
        route_params={"name": "ada"},
        body=b'{"a": 1}',
    )

    result = bindings.http_result(python.invoke(python.function("probe_http"), request))

    assert received["http"] == {
        "method": "PUT",
        "url": "http://localhost:7071/api/probe/ada?x=1",
        "header": "yes",
        "query": {"x": "1"},
        "route": {"name": "ada"},
        "body": '{"a": 1}',
    }
    assert result.status == 201
    assert result.body == b"made"
    assert result.headers["X-Answer"] == "42"
    assert result.headers["content-type"].startswith("text/plain")


def test_a_change_feed_batch_arrives_as_a_document_list(
    probe: tuple[PythonWorker, dict[str, object]],
) -> None:
    python, received = probe
    documents = [{"id": "1", "streamId": "s", "version": 1}, {"id": "2", "streamId": "s", "version": 2}]

    python.invoke(python.function("probe_documents"), bindings.document_list(documents))

    assert received["documents"] == documents


def test_an_event_hubs_batch_arrives_with_each_events_system_properties(
    probe: tuple[PythonWorker, dict[str, object]], tmp_path: Path
) -> None:
    python, received = probe
    hub = EmbeddedHub(tmp_path / "hub.sqlite", partition_count=1)
    hub.publish([OutgoingMessage("account-1", b"one"), OutgoingMessage("account-1", b"two")])
    messages = hub.read(0, -1, 10)

    data, metadata = bindings.event_batch(messages, bindings.PartitionContext("h", "group", "0"))
    python.invoke(python.function("probe_events"), data, metadata)

    assert received["events"] == [
        (m.body, m.sequence_number, "account-1", m.enqueued_time.astimezone(UTC), m.sequence_number)
        for m in messages
    ]
    assert received["partition"] == {"EventHubName": "h", "ConsumerGroup": "group", "PartitionId": "0"}
    hub.close()


def test_repeated_headers_and_query_values_arrive_joined_and_empty_query_values_not_at_all(
    probe: tuple[PythonWorker, dict[str, object]],
) -> None:
    python, received = probe
    request = bindings.http_request(
        "PUT",
        "http://localhost:7071/api/probe/ada?x=1&x=2&empty=",
        [("x-probe", "a"), ("x-probe", "b")],
        [("x", "1"), ("x", "2"), ("empty", "")],
        {"name": "ada"},
        b"",
    )

    python.invoke(python.function("probe_http"), request)

    http = received["http"]
    assert isinstance(http, dict)
    assert (http["header"], http["query"], http["body"]) == ("a,b", {"x": "1,2"}, "")


def test_a_plain_return_value_is_a_200_with_that_body_and_cookies_become_set_cookie_headers(
    probe: tuple[PythonWorker, dict[str, object]],
) -> None:
    python, _ = probe
    request = bindings.http_request("GET", "http://localhost/api/x", [], [], {}, b"")

    text = bindings.http_result(python.invoke(python.function("probe_text"), request))
    cookie = bindings.http_result(python.invoke(python.function("probe_cookie"), request))

    assert (text.status, text.body, text.headers["content-type"]) == (
        200,
        b"just text",
        "text/plain; charset=utf-8",
    )
    assert cookie.body == b"with a cookie"
    assert cookie.cookies == ["session=abc; Path=/api; HttpOnly; SameSite=Strict"]


def test_a_function_that_raises_is_answered_500_with_no_body(
    probe: tuple[PythonWorker, dict[str, object]],
) -> None:
    python, _ = probe
    request = bindings.http_request("GET", "http://localhost/api/boom", [], [], {}, b"")

    answer = bindings.http_result(python.runtime_call(python.invoke_async(python.function("boom"), request)))

    assert (answer.status, answer.body, answer.headers) == (500, b"", {})


def test_a_function_that_raises_fails_its_invocation_with_the_exception(
    probe: tuple[PythonWorker, dict[str, object]],
) -> None:
    python, _ = probe
    request = bindings.http_request("GET", "http://localhost/api/boom", [], [], {}, b"")

    with pytest.raises(WorkerError, match="RuntimeError: the function failed on purpose"):
        python.invoke(python.function("boom"), request)


# --- the protocol messages are compiled from our own .proto ---


def test_the_compiled_protocol_module_is_what_the_proto_file_compiles_to(tmp_path: Path) -> None:
    from grpc_tools import protoc

    infra = REPO / "infra" / "tools"
    well_known = importlib.resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    status = protoc.main(
        [
            "protoc",
            f"-I{infra}",
            f"-I{well_known}",
            f"--python_out={tmp_path}",
            str(infra / "function_rpc.proto"),
        ]
    )

    assert status == 0
    assert (tmp_path / "function_rpc_pb2.py").read_text() == (infra / "function_rpc_pb2.py").read_text(), (
        "infra/tools/function_rpc_pb2.py is stale: run make protos"
    )
