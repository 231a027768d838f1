"""8. Concurrent clients in one process: 1, 4, 8 and 16 threads, each depositing on accounts of its own.

Contenders, on SQLite in WAL mode with synchronous=NORMAL, fresh files for every count of threads:
- ours: the composition root's CommandHandler, shared by the threads (as a Functions worker's or the dev
  host's threads share it): appends arriving while a transaction commits share the next (group commit);
- the `eventsourcing` library at its fastest, its Application shared by the threads alike;
- raw: a connection per thread, BEGIN IMMEDIATE, one single-row INSERT, COMMIT per command.
Each count of threads runs a fixed number of commands in all, split evenly; the rate is commands over the
time from the threads' start (together, at a barrier) to the last one's end.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.peer_eventsourcing import FASTEST_SETTINGS, EventsourcingBank
from bench.sizes import Sizes
from bench.stats import clock
from bench.throughput import AMOUNT, EVENTSOURCING_FASTEST, OURS, RAW, OurPipeline, _metadata
from domain import accounts

THREADS = (1, 4, 8, 16)
ACCOUNTS_PER_THREAD = 5

# a client: given its thread's index, the deposits it makes (each call one command)
Client = Callable[[int], Callable[[], None]]


@dataclass(frozen=True)
class ConcurrencyResult:
    threads: tuple[int, ...]
    commands_per_count: int
    rates: dict[str, dict[int, float]]  # contender -> threads -> commands/s


def run(sizes: Sizes, workdir: Path) -> ConcurrencyResult:
    rates: dict[str, dict[int, float]] = {OURS: {}, EVENTSOURCING_FASTEST: {}, RAW: {}}
    for threads in THREADS:
        folder = workdir / f"concurrency-{threads}"
        for name, contender in ((OURS, _ours), (EVENTSOURCING_FASTEST, _eventsourcing), (RAW, _raw)):
            client, close = contender(folder, threads)
            try:
                rates[name][threads] = _rate(client, threads, sizes.concurrency_commands)
            finally:
                close()
    return ConcurrencyResult(THREADS, sizes.concurrency_commands, rates)


def _rate(client: Client, threads: int, commands: int) -> float:
    each = commands // threads
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        deposit = client(index)
        start.wait()
        try:
            for _ in range(each):
                deposit()
        except BaseException as error:  # reported after the run
            errors.append(error)

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = clock()
    for worker in workers:
        worker.join()
    elapsed = clock() - began
    if errors:
        raise errors[0]
    return each * threads / elapsed


def _ours(folder: Path, threads: int) -> tuple[Client, Callable[[], None]]:
    pipeline = OurPipeline(folder / "ours")
    pipeline.open_accounts(threads * ACCOUNTS_PER_THREAD)

    def client(index: int) -> Callable[[], None]:
        mine = itertools.cycle(pipeline.streams[index::threads])

        def deposit() -> None:
            pipeline.commands.handle(next(mine), accounts.DepositMoney(amount=AMOUNT), _metadata())

        return deposit

    return client, pipeline.close


def _eventsourcing(folder: Path, threads: int) -> tuple[Client, Callable[[], None]]:
    bank = EventsourcingBank(EVENTSOURCING_FASTEST, folder / "eventsourcing.sqlite", FASTEST_SETTINGS)
    bank.open_accounts(threads * ACCOUNTS_PER_THREAD)

    def client(index: int) -> Callable[[], None]:
        mine = itertools.cycle(bank.accounts[index::threads])

        def deposit() -> None:
            bank.app.deposit(next(mine), AMOUNT)

        return deposit

    return client, bank.close


def _raw(folder: Path, threads: int) -> tuple[Client, Callable[[], None]]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "raw.sqlite"
    with sqlite3.connect(path, isolation_level=None) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute(
            "CREATE TABLE events (stream_id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (stream_id, version)) WITHOUT ROWID"
        )
    setup.close()
    connections: list[sqlite3.Connection] = []

    def client(index: int) -> Callable[[], None]:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA synchronous=NORMAL")
        connections.append(conn)
        versions = {f"account-{uuid.uuid4()}": 0 for _ in range(ACCOUNTS_PER_THREAD)}
        mine = itertools.cycle(list(versions))

        def deposit() -> None:
            stream_id = next(mine)
            versions[stream_id] += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?)",
                (stream_id, versions[stream_id], f'{{"amount":{AMOUNT}}}'),
            )
            conn.execute("COMMIT")

        return deposit

    def close() -> None:
        for conn in connections:
            conn.close()

    return client, close
