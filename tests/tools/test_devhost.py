from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.adapters.sqlite.sources import EmbeddedChangeFeed, EmbeddedPartition
from infra.entry.services import ACCOUNTS, SERVICES, Subscription
from infra.ports.eventstore import Metadata, NewEvent
from infra.ports.publisher import OutgoingMessage
from infra.tools import bindings, devhost
from infra.tools.devhost import DevHost
from infra.tools.pumps import (
    ChangeFeedPump,
    Chaos,
    HubPartitionPump,
    Invoker,
    TimerPump,
    Turns,
    next_occurrence,
    retry_delays,
)
from infra.tools.worker import RetryOptions
from tests.worker import app_worker, index_app


def test_an_exponential_policy_doubles_from_the_minimum_up_to_the_maximum() -> None:
    policy = RetryOptions("exponential_backoff", max_retry_count=-1, minimum=1, maximum=10)

    assert list(itertools.islice(retry_delays(policy), 6)) == [1, 2, 4, 8, 10, 10]


def test_a_spent_finite_policy_keeps_retrying_at_the_longest_interval_instead_of_moving_on() -> None:
    policy = RetryOptions("fixed_delay", max_retry_count=2, delay=5, maximum=60)

    assert list(itertools.islice(retry_delays(policy), 4)) == [5, 5, 60, 60]


def test_the_policy_is_the_one_the_worker_reports_for_the_functions_retry_decorator(tmp_path: Path) -> None:
    python, _ = index_app(
        tmp_path,
        """
        import typing
        import azure.functions as func

        app = func.FunctionApp()

        @app.event_hub_message_trigger(
            arg_name="events", connection="C", event_hub_name="h", cardinality="many"
        )
        @app.retry(
            strategy="exponential_backoff",
            max_retry_count="7",
            minimum_interval="00:00:02",
            maximum_interval="00:01:30",
        )
        def policy_probe(events: typing.List[func.EventHubEvent]) -> None:
            pass
        """,
    )

    (function,) = python.functions
    assert function.retry == RetryOptions("exponential_backoff", 7, 1.0, 2.0, 90.0)


FLAKY_CHANGE_FEED_APP = """
    import azure.functions as func

    app = func.FunctionApp()
    seen: list[list[int]] = []
    retry_counts: list[int] = []
    retry_limits: list[int] = []
    last_errors: list[str] = []
    remaining = [2]

    @app.cosmos_db_trigger(
        arg_name="documents",
        connection="C",
        database_name="d",
        container_name="c",
        lease_container_name="leases",
    )
    @app.retry(strategy="fixed_delay", max_retry_count="-1", delay_interval="00:00:01")
    def flaky_relay(documents: func.DocumentList, context: func.Context) -> None:
        seen.append([document["version"] for document in documents])
        retry = context.retry_context
        retry_counts.append(retry.retry_count)
        retry_limits.append(retry.max_retry_count)
        last_errors.append(retry.rpc_exception.message if retry.rpc_exception else "")
        if remaining[0] > 0:
            remaining[0] -= 1
            raise RuntimeError("publish failed")
"""


def test_the_change_feed_lease_moves_only_after_the_function_succeeds(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    stream = f"account-{uuid.uuid4()}"
    store.append(stream, 0, [NewEvent("E", 1, {}), NewEvent("E", 1, {})], Metadata())
    python, app = index_app(tmp_path / "app", FLAKY_CHANGE_FEED_APP)
    stop = threading.Event()
    positions = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")
    feed = EmbeddedChangeFeed(store, positions, "lease")
    pump = ChangeFeedPump(Invoker(python, python.functions[0], stop), feed, 100, 0.01)

    pump.start()
    deadline = threading.Event()
    for _ in range(1000):
        if positions.get("lease") == "2":
            break
        deadline.wait(0.01)
    stop.set()
    pump.join()

    assert app.seen[:3] == [[1, 2], [1, 2], [1, 2]]  # the same batch again after each failure
    # as the host: no retry context on the first attempt, then the attempt, the limit and the last error
    assert app.retry_counts[:3] == [0, 1, 2]
    assert app.retry_limits[:3] == [0, -1, -1]
    assert app.last_errors[:3] == ["", "RuntimeError: publish failed", "RuntimeError: publish failed"]
    assert positions.get("lease") == "2"
    store.close()


def test_a_stopped_host_leaves_a_failing_batch_unacknowledged(tmp_path: Path) -> None:
    hub = EmbeddedHub(tmp_path / "hub.sqlite", partition_count=1)
    hub.publish([OutgoingMessage("k", b"one"), OutgoingMessage("k", b"two")])
    python, app = index_app(
        tmp_path / "app",
        """
        import threading
        import typing
        import azure.functions as func

        app = func.FunctionApp()
        attempts = threading.Semaphore(0)

        @app.event_hub_message_trigger(
            arg_name="events", connection="C", event_hub_name="h", cardinality="many"
        )
        @app.retry(strategy="fixed_delay", max_retry_count="-1", delay_interval="00:00:01")
        def always_failing_projector(events: typing.List[func.EventHubEvent]) -> None:
            attempts.release()
            raise RuntimeError("always fails")
        """,
    )

    stop = threading.Event()
    positions = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")
    partition = EmbeddedPartition(hub, positions, "group", 0)
    pump = HubPartitionPump(Invoker(python, python.functions[0], stop), partition, 100, True, 0.01)
    pump.start()
    assert app.attempts.acquire(timeout=5)
    assert app.attempts.acquire(timeout=5)
    stop.set()
    pump.join()

    assert [message.body for message in partition.receive(10)] == [b"one", b"two"]
    hub.close()


def test_an_append_wakes_the_waiting_change_feed_instead_of_a_poll(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    appended = store.appends()
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(appended.wait(timeout=60)))

    waiter.start()
    store.append(f"account-{uuid.uuid4()}", 0, [NewEvent("E", 1, {})], Metadata())
    waiter.join(timeout=60)

    assert woken == [True]
    assert appended.wait(timeout=0) is False  # the wake-up was consumed
    store.close()


def test_a_publish_wakes_only_the_partitions_it_wrote_to(tmp_path: Path) -> None:
    hub = EmbeddedHub(tmp_path / "hub.sqlite", partition_count=4)
    key = "account-1"
    written = hub.partition_for(key)
    readers = [hub.messages(partition) for partition in range(4)]

    hub.publish([OutgoingMessage(key, b"x")])

    assert readers[written].wait(timeout=60) is True
    assert all(readers[p].wait(timeout=0) is False for p in range(4) if p != written)
    hub.close()


def test_every_reader_of_a_partition_wakes_for_a_publish_though_another_used_its_wake_up_first(
    tmp_path: Path,
) -> None:
    hub = EmbeddedHub(tmp_path / "hub.sqlite", partition_count=1)
    projector, saga = hub.messages(0), hub.messages(0)  # two consumer groups on one partition

    hub.publish([OutgoingMessage("account-1", b"x")])

    assert projector.wait(timeout=60) is True
    assert saga.wait(timeout=0) is True  # its signal was kept while it was busy elsewhere
    hub.close()


def test_every_change_feed_of_a_store_wakes_for_an_append(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    first, second = store.appends(), store.appends()

    store.append(f"account-{uuid.uuid4()}", 0, [NewEvent("E", 1, {})], Metadata())

    assert first.wait(timeout=60) is True
    assert second.wait(timeout=0) is True
    store.close()


# --- taking turns: a trigger process's invocations, a few at a time ---


def _wait_until(condition: Any) -> None:
    for _ in range(6000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError("not within 30 s")


def test_turns_let_no_more_than_their_number_run_at_once() -> None:
    turns = Turns(2)
    running, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def work() -> None:
        with turns.turn():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            release.wait(30)
            with lock:
                running[0] -= 1

    workers = [threading.Thread(target=work) for _ in range(6)]
    for worker in workers:
        worker.start()
    _wait_until(lambda: turns.waiting == 4)
    release.set()
    for worker in workers:
        worker.join(30)

    assert not any(worker.is_alive() for worker in workers)
    assert most[0] == 2
    assert turns.waiting == 0


def test_a_turn_whose_work_raised_is_handed_on() -> None:
    turns = Turns(1)
    with pytest.raises(RuntimeError), turns.turn():
        raise RuntimeError("the invocation failed")

    taken = threading.Thread(target=lambda: turns.turn().__enter__())
    taken.start()
    taken.join(30)

    assert not taken.is_alive()


def test_a_turn_goes_to_whoever_has_waited_longest() -> None:
    turns = Turns(1)
    order: list[int] = []
    workers = []
    with turns.turn():  # hold the only turn while five line up, one after another
        for n in range(5):
            worker = threading.Thread(target=lambda n=n: _take_turn(turns, order, n))
            worker.start()
            _wait_until(lambda n=n: turns.waiting == n + 1)
            workers.append(worker)
    for worker in workers:
        worker.join(30)

    assert not any(worker.is_alive() for worker in workers)
    assert order == [0, 1, 2, 3, 4]


def _take_turn(turns: Turns, order: list[int], n: int) -> None:
    with turns.turn():
        order.append(n)


TWO_TIMERS_APP = """
    import azure.functions as func

    app = func.FunctionApp()
    calls: list[str] = []

    @app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
    @app.retry(strategy="fixed_delay", max_retry_count="-1", delay_interval="00:01:00")
    def always_failing(timer: func.TimerRequest) -> None:
        calls.append("failing")
        raise RuntimeError("always fails")

    @app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
    def healthy(timer: func.TimerRequest) -> None:
        calls.append("healthy")
"""


def test_a_failing_function_backs_off_outside_its_turn_so_the_others_run_meanwhile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    python, app = index_app(tmp_path, TWO_TIMERS_APP)
    stop, turns = threading.Event(), Turns(1)
    failing, healthy = (
        Invoker(python, python.function(name), stop, turns) for name in ("always_failing", "healthy")
    )
    binding: Any = (bindings.timer_info(None, datetime.now(UTC), past_due=False), {})
    retrying = threading.Thread(target=lambda: failing(binding, "test"))
    retrying.start()
    _wait_until(lambda: "Retrying 'Functions.always_failing' in 60.0s" in caplog.text)  # backing off

    ran = threading.Thread(target=lambda: healthy.once(binding, "test"))
    ran.start()
    ran.join(30)  # the back-off is 60 s: had it held the only turn, this would still be waiting
    finished_meanwhile = not ran.is_alive()
    stop.set()
    retrying.join(30)
    ran.join(30)

    assert finished_meanwhile
    assert app.calls == ["failing", "healthy"]


# --- the trigger processes: one per hub ---


def test_each_hub_has_one_trigger_process_with_its_relay_and_every_function_that_reads_it() -> None:
    functions = app_worker().functions
    groups = devhost.trigger_groups(SERVICES, functions)

    triggered = sorted(f.name for f in functions if f.trigger["type"] != "httpTrigger")
    assert sorted(name for group in groups for name in group) == triggered  # each exactly once
    assert len(groups) == len(SERVICES)
    for service in SERVICES:
        (group,) = [group for group in groups if service.relay_function in group]
        readers = {
            f.name for f in functions if f.trigger["type"] == "eventHubTrigger" and _hub(f) == service.hub
        }
        assert readers <= group
        assert all(
            _hub(f) == service.hub
            for f in functions
            if f.name in group and f.trigger["type"] == "eventHubTrigger"
        )
    timers = [f.name for f in functions if f.trigger["type"] == "timerTrigger"]
    assert timers
    assert set(timers) <= groups[0]


def test_a_reaction_to_a_hub_no_service_here_owns_is_named_at_start() -> None:
    orphan = Subscription("no-such-hub", "accounts-orphan", "react_to_nothing", lambda *_: [])
    services = [dataclasses.replace(ACCOUNTS, subscriptions=(orphan,))]

    with pytest.raises(ValueError, match="react_to_nothing reads the hub 'no-such-hub', which no service"):
        devhost.trigger_groups(services, app_worker().functions)


def _hub(function: Any) -> str:
    return str(function.trigger["eventHubName"])  # the app names its hubs, no %SETTING% expressions


# --- chaos: the faults the dev host can inject into hub deliveries ---


def test_a_chaos_spec_parses_into_its_probabilities_and_seed() -> None:
    assert Chaos.parse("duplicate=0.3, reorder=1,crash=0,seed=7") == Chaos(0.3, 1.0, 0.0, 7)
    assert Chaos.parse("") == Chaos()


@pytest.mark.parametrize("spec", ["explode=0.5", "crash=1.5", "duplicate=-0.1", "seed=x"])
def test_a_chaos_spec_with_an_unknown_name_or_a_bad_value_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"chaos|invalid literal"):
        Chaos.parse(spec)


def test_a_mangled_batch_holds_every_message_and_with_duplication_some_twice() -> None:
    hub = EmbeddedHub(":memory:", partition_count=1)
    hub.publish([OutgoingMessage(body=str(n).encode(), partition_key="k") for n in range(20)])
    messages = hub.read(0, -1, 100)

    mangled = Chaos(duplicate=1.0, reorder=1.0).mangle(random.Random(3), messages)

    numbers = [message.sequence_number for message in mangled]
    assert set(numbers) == {message.sequence_number for message in messages}
    assert len(numbers) > len(messages)
    assert numbers != sorted(numbers)


def test_without_chaos_a_batch_is_delivered_as_received() -> None:
    hub = EmbeddedHub(":memory:", partition_count=1)
    hub.publish([OutgoingMessage(body=str(n).encode(), partition_key="k") for n in range(5)])
    messages = hub.read(0, -1, 100)

    assert Chaos().mangle(random.Random(3), messages) == list(messages)


# --- HTTP: routes as the host's routing matches them ---

ROUTING_APP = """
    import azure.functions as func

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="items/{id}", methods=["GET"])
    def routing_item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"item {req.route_params['id']}")

    @app.route(route="items/new", methods=["GET"])
    def routing_new_item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("the literal route")

    @app.route(route="items", methods=["POST"])
    def routing_add(req: func.HttpRequest) -> func.HttpResponse:
        response = func.HttpResponse(req.get_body(), status_code=201)
        response.headers["Set-Cookie"] = "seen=1; Path=/"
        return response

    @app.route(methods=["GET"])
    def routing_default_route(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.params.get("q", "none"))

    @app.route(route="files/{*rest}", methods=["GET"])
    def routing_files(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"file {req.route_params['rest']}")
"""


class Routed:
    """Requests to the dev host's ASGI app, in process (no lifespan: no triggers start)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost:7071") as client:
                response = await client.request(method, path, **options)
                await response.aread()
                return response

        return asyncio.run(send())

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Routed:
    python, _ = index_app(tmp_path_factory.mktemp("routing"), ROUTING_APP)
    host = DevHost(python, {"extensions": {"http": {"routePrefix": "api"}}}, poll_seconds=1)
    return Routed(host.asgi())


def test_paths_match_ignoring_case_and_a_trailing_slash_as_the_hosts_routing_does(routed: Routed) -> None:
    assert routed.get("/API/Items/42/").text == "item 42"
    assert routed.get("/api/items/Abc").text == "item Abc"  # a route value keeps its case


def test_a_route_value_may_hold_any_character_a_line_break_included(routed: Routed) -> None:
    # decoded from %0A and %1F, as the host's routing passes them on: the function answers
    assert routed.get("/api/items/a%0Ab%1F").text == "item a\nb\x1f"
    assert routed.get("/api/files/a%0Ab/c").text == "file a\nb/c"  # a catch-all's value too


def test_a_literal_segment_wins_over_a_parameter(routed: Routed) -> None:
    assert routed.get("/api/items/new").text == "the literal route"


def test_a_function_without_a_route_is_served_under_its_name(routed: Routed) -> None:
    assert routed.get("/api/routing_default_route", params={"q": "x"}).text == "x"


def test_a_method_the_route_does_not_take_and_an_unknown_path_are_404_with_no_body(
    routed: Routed,
) -> None:
    for response in (
        routed.request("DELETE", "/api/items/42"),
        routed.request("HEAD", "/api/items/42"),
        routed.get("/api/items"),
        routed.get("/api/nothing/here"),
    ):
        assert (response.status_code, response.content) == (404, b"")


def test_a_request_body_arrives_and_cookies_come_back_as_set_cookie(routed: Routed) -> None:
    response = routed.post("/api/items", content=b'{"name": "x"}')

    assert (response.status_code, response.content) == (201, b'{"name": "x"}')
    assert response.headers["set-cookie"] == "seen=1; Path=/"


def test_a_body_over_the_hosts_limit_is_refused_before_the_function_even_when_chunked(
    routed: Routed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devhost, "MAX_REQUEST_BYTES", 10)

    declared = routed.post("/api/items", content=b"x" * 11)
    chunked = routed.post("/api/items", content=chunks(b"x" * 6, b"x" * 6))

    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert "content-length" not in chunked.request.headers


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_a_spent_exponential_policy_without_a_maximum_retries_at_most_a_minute_apart() -> None:
    policy = RetryOptions("exponential_backoff", max_retry_count=2, minimum=1, maximum=2_147_483_647)

    assert list(itertools.islice(retry_delays(policy), 4)) == [1, 2, 60, 60]


TIMER_APP = """
import azure.functions as func

app = func.FunctionApp()
fired = []


@app.timer_trigger(arg_name="timer", schedule="* * * * * *")
def tick_every_second(timer: func.TimerRequest) -> None:
    fired.append((timer.past_due, timer.schedule_status.get("Next")))
"""


def test_a_timer_fires_on_its_ncrontab_schedule_with_the_schedule_status_the_host_sends(
    tmp_path: Path,
) -> None:
    python, app = index_app(tmp_path / "app", TIMER_APP)
    stop = threading.Event()
    [function] = python.functions
    pump = TimerPump(Invoker(python, function, stop), function.trigger["schedule"])

    pump.start()
    waited = threading.Event()
    for _ in range(400):
        if len(app.fired) >= 2:
            break
        waited.wait(0.01)
    stop.set()
    pump.join()

    assert len(app.fired) >= 2
    assert [past_due for past_due, _ in app.fired] == [False] * len(app.fired)
    nexts = [datetime.fromisoformat(next_run) for _, next_run in app.fired[:2]]
    assert (nexts[1] - nexts[0]).total_seconds() == 1.0  # each run names the one after it, a second on


def test_the_next_occurrence_reads_six_fields_seconds_first() -> None:
    start = datetime(2026, 12, 3, 13, 0, 7, tzinfo=UTC)

    assert next_occurrence("*/15 * * * * *", start) == datetime(2026, 12, 3, 13, 0, 15, tzinfo=UTC)
    assert next_occurrence("0 30 9 * * *", start) == datetime(2026, 12, 4, 9, 30, 0, tzinfo=UTC)
