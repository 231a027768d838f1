from __future__ import annotations

import itertools
import random
import threading
import uuid
from pathlib import Path

import pytest

from infra.devhost import ChangeFeedPump, Chaos, HubPartitionPump, Invoker, RetryPolicy
from infra.devhost_sources import EmbeddedChangeFeed, EmbeddedPartition
from infra.embedded_hub import EmbeddedHub
from infra.eventstore import Metadata, NewEvent
from infra.publisher import OutgoingMessage
from infra.sqlite_store import SqliteEventStore
from tests.worker import index_app


def test_an_exponential_policy_doubles_from_the_minimum_up_to_the_maximum() -> None:
    policy = RetryPolicy("exponential_backoff", max_retry_count=-1, minimum=1, maximum=10)

    assert list(itertools.islice(policy.delays(), 6)) == [1, 2, 4, 8, 10, 10]


def test_a_spent_finite_policy_keeps_retrying_at_the_longest_interval_instead_of_moving_on() -> None:
    policy = RetryPolicy("fixed_delay", max_retry_count=2, delay=5, maximum=60)

    assert list(itertools.islice(policy.delays(), 4)) == [5, 5, 60, 60]


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
        def handler(events: typing.List[func.EventHubEvent]) -> None:
            pass
        """,
    )

    (function,) = python.functions
    assert RetryPolicy.of(function) == RetryPolicy("exponential_backoff", 7, 1.0, 2.0, 90.0)


FLAKY_CHANGE_FEED_APP = """
    import azure.functions as func

    app = func.FunctionApp()
    seen: list[list[int]] = []
    retry_counts: list[int] = []
    remaining = [2]

    @app.cosmos_db_trigger(
        arg_name="documents",
        connection="C",
        database_name="d",
        container_name="c",
        lease_container_name="leases",
    )
    @app.retry(strategy="fixed_delay", max_retry_count="-1", delay_interval="00:00:01")
    def handler(documents: func.DocumentList, context: func.Context) -> None:
        seen.append([document["version"] for document in documents])
        retry_counts.append(context.retry_context.retry_count)
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
    feed = EmbeddedChangeFeed(store, "lease")
    pump = ChangeFeedPump(Invoker(python, python.functions[0], stop), feed, 100, 0.01)

    pump.start()
    deadline = threading.Event()
    for _ in range(1000):
        if store.lease("lease") == 2:
            break
        deadline.wait(0.01)
    stop.set()
    pump.join()

    assert app.seen[:3] == [[1, 2], [1, 2], [1, 2]]  # the same batch again after each failure
    assert app.retry_counts[:3] == [0, 1, 2]  # the retry context counts the attempts, as the host's does
    assert store.lease("lease") == 2
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
        def handler(events: typing.List[func.EventHubEvent]) -> None:
            attempts.release()
            raise RuntimeError("always fails")
        """,
    )

    stop = threading.Event()
    pump = HubPartitionPump(
        Invoker(python, python.functions[0], stop), EmbeddedPartition(hub, "group", 0), 100, True, 0.01
    )
    pump.start()
    assert app.attempts.acquire(timeout=5)
    assert app.attempts.acquire(timeout=5)
    stop.set()
    pump.join()

    assert [message.body for message in hub.receive("group", 0, 10)] == [b"one", b"two"]
    hub.close()


def test_an_append_wakes_the_waiting_change_feed_instead_of_a_poll(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(store.wait_for_appends(timeout=60)))

    waiter.start()
    store.append(f"account-{uuid.uuid4()}", 0, [NewEvent("E", 1, {})], Metadata())
    waiter.join(timeout=60)

    assert woken == [True]
    assert store.wait_for_appends(timeout=0) is False  # the wake-up was consumed
    store.close()


def test_a_publish_wakes_only_the_partitions_it_wrote_to(tmp_path: Path) -> None:
    hub = EmbeddedHub(tmp_path / "hub.sqlite", partition_count=4)
    key = "account-1"
    written = hub.partition_for(key)

    hub.publish([OutgoingMessage(key, b"x")])

    assert hub.wait_for_messages(written, timeout=60) is True
    assert all(hub.wait_for_messages(p, timeout=0) is False for p in range(4) if p != written)
    hub.close()


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
    messages = hub.receive("group", 0, 100)

    mangled = Chaos(duplicate=1.0, reorder=1.0).mangle(random.Random(3), messages)

    numbers = [message.sequence_number for message in mangled]
    assert set(numbers) == {message.sequence_number for message in messages}
    assert len(numbers) > len(messages)
    assert numbers != sorted(numbers)


def test_without_chaos_a_batch_is_delivered_as_received() -> None:
    hub = EmbeddedHub(":memory:", partition_count=1)
    hub.publish([OutgoingMessage(body=str(n).encode(), partition_key="k") for n in range(5)])
    messages = hub.receive("group", 0, 100)

    assert Chaos().mangle(random.Random(3), messages) == list(messages)
