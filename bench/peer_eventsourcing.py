"""The peer: the same bank-account workload on the Python `eventsourcing` library, on SQLite.

The library is a bench-only dependency (requirements-bench.txt), so it is imported inside functions:
`make test` type-checks this module on a machine without it.

Its SQLite module (PERSISTENCE_MODULE=eventsourcing.sqlite, SQLITE_DBNAME=<file>) always switches the
file to WAL and has no setting for `synchronous`, which SQLite then leaves at FULL. For the same
durability as ours, the bench gives it a connection pool that also sets synchronous=NORMAL on each
connection it opens (and checks it).
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Any

FACTORY_TOPIC = "bench.peer_eventsourcing:NormalSyncSQLiteFactory"

# The library's documented environment variables for its aggregate cache.
DEFAULT_SETTINGS: dict[str, str] = {}
FASTEST_SETTINGS = {
    "AGGREGATE_CACHE_MAXSIZE": "100000",  # cache on, big enough for every account of the workload
    "AGGREGATE_CACHE_FASTFORWARD": "n",  # do not read newer events of a cached aggregate
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",  # hand out the cached object itself
}


class EventsourcingBank:
    """N accounts taking deposits through an `eventsourcing` Application: get, call, save."""

    def __init__(self, name: str, path: Path, settings: dict[str, str]) -> None:
        self.name = name
        application_class = _application_class()
        path.parent.mkdir(parents=True, exist_ok=True)
        env = {"PERSISTENCE_MODULE": _normal_sync_factory_topic(), "SQLITE_DBNAME": str(path), **settings}
        self.settings = settings
        self.app: Any = application_class(env=env)
        self.accounts: list[uuid.UUID] = []

    def open_accounts(self, count: int) -> None:
        for index in range(count):
            self.accounts.append(self.app.open_account(f"Owner {index}", f"owner{index}@example.com", "EUR"))

    def deposit_each(self, amount: int) -> None:
        for account_id in self.accounts:
            self.app.deposit(account_id, amount)

    def balance(self, account_id: uuid.UUID) -> int:
        return int(self.app.balance(account_id))

    def synchronous(self) -> int:
        """The `synchronous` level of the library's own connections (1 is NORMAL)."""
        with self.app.factory.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA synchronous")
            return int(cursor.fetchone()[0])

    def close(self) -> None:
        self.app.close()


def library_version() -> str:
    from importlib.metadata import version

    return version("eventsourcing")


@functools.cache
def _application_class() -> type[Any]:
    """The aggregate and application, defined once per process (the library registers their topics)."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class BankAccount(Aggregate):  # type: ignore[misc,unused-ignore]
        @event("Opened")  # type: ignore[untyped-decorator,unused-ignore]
        def __init__(self, owner_name: str, owner_email: str, currency: str) -> None:
            self.owner_name = owner_name
            self.owner_email = owner_email
            self.currency = currency
            self.balance = 0

        def deposit(self, amount: int) -> None:
            if amount <= 0:
                raise ValueError("a deposit is a positive amount")
            self._deposited(amount, self.balance + amount)

        # Records the decision (the balance after it), like our MoneyDeposited.
        @event("Deposited")  # type: ignore[untyped-decorator,unused-ignore]
        def _deposited(self, amount: int, balance_after: int) -> None:
            self.balance = balance_after

    class BankAccounts(Application):  # type: ignore[misc,unused-ignore,type-arg]
        def open_account(self, owner_name: str, owner_email: str, currency: str) -> uuid.UUID:
            account = BankAccount(owner_name, owner_email, currency)
            self.save(account)
            account_id: uuid.UUID = account.id
            return account_id

        def deposit(self, account_id: uuid.UUID, amount: int) -> None:
            account: BankAccount = self.repository.get(account_id)
            account.deposit(amount)
            self.save(account)

        def balance(self, account_id: uuid.UUID) -> int:
            account: BankAccount = self.repository.get(account_id)
            return account.balance

    return BankAccounts


@functools.cache
def _normal_sync_factory_topic() -> str:
    """Registers the library's SQLite factory with a pool whose connections use synchronous=NORMAL."""
    from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
    from eventsourcing.utils import Environment, register_topic

    class NormalSyncPool(SQLiteConnectionPool):  # type: ignore[misc,unused-ignore]
        def _create_connection(self) -> SQLiteConnection:
            connection: SQLiteConnection = super()._create_connection()  # WAL is set by the library
            connection.cursor().execute("PRAGMA synchronous=NORMAL")
            return connection

    class NormalSyncSQLiteFactory(SQLiteFactory):  # type: ignore[misc,unused-ignore]
        def __init__(self, env: Environment | dict[str, str] | None) -> None:
            super().__init__(env)
            library_pool = self.datastore.pool
            self.datastore.pool = NormalSyncPool(
                db_name=library_pool.db_name, lock_timeout=library_pool.lock_timeout
            )
            library_pool.close()

    register_topic(FACTORY_TOPIC, NormalSyncSQLiteFactory)
    return FACTORY_TOPIC
