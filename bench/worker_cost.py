"""6. What going through the Python worker costs per call.

The dev host (and Azure) invoke every function through azure-functions-runtime: an invocation request with
the trigger's data encoded as the host encodes it, handed to the worker's event loop, decoded by the
library, the function run on its thread pool, the answer encoded back. This measures a call that way against
calling the same Python function directly with an azure.functions request, in one process on the embedded
backend, in alternating rounds so both see the same machine.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

from bench.sizes import Sizes
from bench.stats import clock, median
from infra.tools import bindings

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 5
DEPOSIT = {"amount": 1}


def binding_of(req: func.HttpRequest) -> Any:
    """The request as the host hands it to the worker."""
    return bindings.http_request(
        req.method, req.url, req.headers.items(), req.params.items(), req.route_params, req.get_body()
    )


@dataclass(frozen=True)
class CallCost:
    function: str
    calls: int
    direct_us: float  # median per call, calling the Python function
    on_loop_us: float  # through the worker, awaited on the caller's event loop (the dev host's HTTP path)
    from_thread_us: float  # through the worker, from another thread (the trigger pumps' path)

    @property
    def overhead_us(self) -> float:
        return self.on_loop_us - self.direct_us


@dataclass(frozen=True)
class WorkerCostResult:
    worker_version: str
    costs: list[CallCost]


def run(sizes: Sizes, workdir: Path) -> WorkerCostResult:
    import importlib.metadata

    os.environ["EVENTBANK_DATA_DIR"] = str(workdir / "worker-cost")
    os.environ["EVENTBANK_IDENTITY_HEADERS"] = "local"  # this bench plays Easy Auth, as the dev host does
    import function_app  # noqa: F401 - the app, as the worker indexes it
    from infra.entry import accounts_api, bootstrap, operations_api
    from infra.tools import worker

    bootstrap.reset()
    python = worker.PythonWorker(REPO)
    python.start()
    opened = accounts_api.open_account(
        _request("POST", "/api/accounts", {"owner_name": "Ada", "owner_email": "a@b.c", "currency": "EUR"})
    )
    account = json.loads(opened.get_body())["id"]
    route = {"id": account}
    cases: list[tuple[str, Callable[[], func.HttpRequest]]] = [
        ("health", lambda: _request("GET", "/api/health")),
        ("account_state", lambda: _request("GET", f"/api/accounts/{account}/state", route=route)),
        (
            "deposit",
            lambda: _request("POST", f"/api/accounts/{account}/deposits", DEPOSIT, route=route),
        ),
    ]
    costs = []
    loop = asyncio.new_event_loop()
    for name, make in cases:
        direct_call = getattr(accounts_api, name, None) or getattr(operations_api, name)
        metadata = python.function(name)

        def direct(make: Callable[[], func.HttpRequest] = make, call: Any = direct_call) -> None:
            response = call(make())
            assert response.status_code < 300, response.get_body()

        def from_thread(make: Callable[[], func.HttpRequest] = make, function: Any = metadata) -> None:
            result = bindings.http_result(python.invoke(function, binding_of(make())))
            assert result.status < 300

        async def on_loop(
            times: int, make: Callable[[], func.HttpRequest] = make, function: Any = metadata
        ) -> list[float]:
            took = []
            for _ in range(times):
                started = clock()
                response = await python.invoke_async(function, binding_of(make()))
                took.append(clock() - started)
                assert bindings.http_result(response).status < 300
            return took

        per_round = max(1, sizes.worker_calls // ROUNDS)
        direct_times: list[float] = []
        loop_times: list[float] = []
        thread_times: list[float] = []
        for _ in range(ROUNDS):
            direct_times.extend(_timed(direct, per_round))
            loop_times.extend(loop.run_until_complete(on_loop(per_round)))
            thread_times.extend(_timed(from_thread, per_round))
        costs.append(
            CallCost(
                name,
                per_round * ROUNDS,
                median(direct_times) * 1e6,
                median(loop_times) * 1e6,
                median(thread_times) * 1e6,
            )
        )
    loop.close()
    bootstrap.reset()
    return WorkerCostResult(importlib.metadata.version("azure-functions-runtime"), costs)


def _timed(call: Callable[[], None], times: int) -> list[float]:
    took = []
    for _ in range(times):
        started = clock()
        call()
        took.append(clock() - started)
    return took


def _request(
    method: str, path: str, body: object = None, route: dict[str, str] | None = None
) -> func.HttpRequest:
    from infra.entry.identity import Principal, principal_headers

    signed_in = principal_headers(Principal("bench-user", "bench@localhost"))
    return func.HttpRequest(
        method=method,
        url=f"http://localhost:7071{path}",
        headers=signed_in | ({"content-type": "application/json"} if body is not None else {}),
        params={},
        route_params=route or {},
        body=b"" if body is None else json.dumps(body).encode(),
    )
