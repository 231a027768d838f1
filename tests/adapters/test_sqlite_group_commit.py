"""Group commit: work of several threads in one SQLite transaction, each with its own outcome."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from infra.adapters.sqlite.database import SqliteDatabase
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.ports.eventstore import ConcurrencyError, Metadata, NewEvent, StreamHead

SCHEMA = "CREATE TABLE IF NOT EXISTS rows (name TEXT PRIMARY KEY);"
Work = Callable[[sqlite3.Connection], object]
METADATA = Metadata(correlation_id="c-1")


class Refused(Exception):
    pass


def names(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM rows")}


def insert(name: str, ran_on: dict[str, int]) -> Work:
    def work(conn: sqlite3.Connection) -> str:
        ran_on[name] = threading.get_ident()
        conn.execute("INSERT INTO rows VALUES (?)", (name,))
        if name.startswith("refused"):
            raise Refused(name)
        return f"{name} done"

    return work


def in_one_group(db: SqliteDatabase, works: dict[str, Work], run_inside: bool = True) -> dict[str, object]:
    """Each work's outcome (its result or its exception), all of them queued behind a group being
    committed, so that they are grouped together once it is; `run_inside=False`: each work is called as it
    is (it queues work of its own), not given to `grouped`."""
    running, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first(conn: sqlite3.Connection) -> None:
        running.set()
        release.wait(10)

    def run(name: str, work: Work) -> None:
        try:
            outcomes[name] = db.grouped(work) if run_inside or name == "first" else work(db.connection())
        except Exception as error:  # the outcome under test
            outcomes[name] = error

    leader = threading.Thread(target=run, args=("first", first))
    leader.start()
    running.wait(10)
    threads = [threading.Thread(target=run, args=item) for item in works.items()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(db._waiting) < len(works) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(db._waiting) == len(works), "the works did not all queue behind the group"
    release.set()
    for thread in [leader, *threads]:
        thread.join(10)
    del outcomes["first"]
    return outcomes


def test_work_arriving_while_a_group_commits_is_grouped_and_a_failing_one_leaves_its_neighbours_committed(
    tmp_path: Path,
) -> None:
    db = SqliteDatabase(tmp_path / "db.sqlite", SCHEMA)
    ran_on: dict[str, int] = {}

    outcomes = in_one_group(db, {name: insert(name, ran_on) for name in ("b", "refused-c", "d")})
    db.close()

    assert (outcomes["b"], outcomes["d"]) == ("b done", "d done")
    assert isinstance(outcomes["refused-c"], Refused)
    assert names(tmp_path / "db.sqlite") == {"b", "d"}  # c's insert undone, alone
    assert len(set(ran_on.values())) == 1  # one thread ran the three: one transaction


def test_work_alone_commits_before_it_returns_and_its_failure_writes_nothing(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "db.sqlite", SCHEMA)
    ran_on: dict[str, int] = {}

    assert db.grouped(insert("a", ran_on)) == "a done"
    assert names(tmp_path / "db.sqlite") == {"a"}  # visible to another connection: committed
    with pytest.raises(Refused):
        db.grouped(insert("refused", ran_on))
    db.close()

    assert names(tmp_path / "db.sqlite") == {"a"}


def test_when_the_groups_commit_fails_every_member_hears_of_it_and_nothing_is_written(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "db.sqlite", SCHEMA)
    ran_on: dict[str, int] = {}

    def ends_the_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("RELEASE grouped")  # its savepoint released early...
        conn.execute("ROLLBACK")  # ...and the group's transaction ended under it: the COMMIT then fails

    outcomes = in_one_group(db, {"a": insert("a", ran_on), "breaks": ends_the_transaction})
    db.close()

    assert isinstance(outcomes["a"], sqlite3.OperationalError)
    assert isinstance(outcomes["breaks"], sqlite3.OperationalError)
    assert names(tmp_path / "db.sqlite") == set()


def test_grouped_work_inside_a_transaction_of_the_same_thread_joins_it(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "db.sqlite", SCHEMA)
    ran_on: dict[str, int] = {}

    def joins_then_fails() -> None:
        with db.transaction():
            db.grouped(insert("a", ran_on))
            raise Refused("the outer transaction is undone, and the grouped work with it")

    with pytest.raises(Refused):
        joins_then_fails()
    db.close()

    assert names(tmp_path / "db.sqlite") == set()


def test_appends_grouped_into_one_commit_keep_their_own_concurrency_checks(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    a, b = f"account-{uuid.uuid4()}", f"account-{uuid.uuid4()}"
    store.append(a, 0, [NewEvent("MoneyDeposited", 1, {"amount": 1})], METADATA)

    def append(stream_id: str, expected: int) -> Work:
        return lambda conn: store.append(stream_id, expected, [NewEvent("MoneyDeposited", 1, {})], METADATA)

    # the works run store.append in threads of their own, outside the group: each groups its own append
    outcomes = in_one_group(
        store._db,
        {"a at 1": append(a, 1), "a at 0, stale": append(a, 0), "b at 0": append(b, 0)},
        run_inside=False,
    )
    versions = ([e.version for e in store.read(a)], [e.version for e in store.read(b)])
    store.close()

    assert isinstance(outcomes["a at 1"], StreamHead)
    assert isinstance(outcomes["a at 0, stale"], ConcurrencyError)
    assert isinstance(outcomes["b at 0"], StreamHead)
    assert versions == ([1, 2], [1])
