"""One SQLite file per store: a connection per thread in WAL mode, transactions, and the wake-up signals
its writers give readers in the same process."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast


class SqliteDatabase:
    """One SQLite file in WAL mode with a connection per thread and immediate write transactions.

    synchronous=NORMAL: a commit survives a crash of the process, not a power loss of the machine;
    that is the embedded backend's durability (Azure's is Cosmos DB's). secure_delete: what a write
    replaces or deletes is overwritten with zeros, not left in free pages (erased personal data must
    not linger in the file); `purge` also empties the write-ahead log, where old pages wait.
    """

    def __init__(self, path: Path | str, schema: str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Writers of this process queue here, in turn, rather than in SQLite's busy handler, which sleeps
        # for growing intervals (up to 100 ms) while another connection holds the write lock.
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        # group commit: work waiting for the next grouped transaction, and whether one is being run
        self._group = threading.Condition(threading.Lock())
        self._waiting: list[_Grouped] = []
        self._grouping = False
        self.connection().executescript(schema)

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
            # Servers run requests on pooled threads that come and go: close a thread's connection with it.
            weakref.finalize(threading.current_thread(), self._release, conn)
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: it takes the database's write lock at BEGIN, so writers are serialised.

        Inside another transaction of the same thread it joins that one: its writes commit with it, and
        an exception in it undoes nothing by itself (the outer transaction decides)."""
        with self._outermost(keep_on_error=False) as conn:
            yield conn

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for the writes of a batch of work, joined by every `transaction()` inside it,
        and committed at its end even if the work raised: each write in it was complete on its own, so
        keeping them is what committing them one by one would have done."""
        with self._outermost(keep_on_error=True):
            yield

    @contextmanager
    def _outermost(self, keep_on_error: bool) -> Iterator[sqlite3.Connection]:
        """This thread's transaction, begun here unless one is open (then this joins it). It commits at
        the end, and on an Exception too if `keep_on_error`; anything else rolls it back."""
        conn = self.connection()
        if getattr(self._local, "depth", 0):
            yield conn
            return
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            try:
                yield conn
            except Exception:
                conn.execute("COMMIT" if keep_on_error else "ROLLBACK")
                raise
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._local.depth = 0
            conn.execute("COMMIT")

    def grouped[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(conn)` in a write transaction shared with the grouped work of other threads that arrived
        meanwhile (group commit: one commit for all of them), each in a savepoint of its own, so one that
        raises is undone alone and its exception is raised to its caller, while the rest commit. It returns
        (or raises) once the transaction has committed: nothing is acknowledged before it is durable. While
        one thread runs a group, the work arriving queues for the next; whoever of it wakes first runs it.
        Inside a transaction of this thread it joins that one, as `transaction()` does."""
        if getattr(self._local, "depth", 0):
            return work(self.connection())
        with self._group:
            alone = not self._grouping and not self._waiting
            if alone:
                self._grouping = True
        if alone:  # nobody to group with: a transaction of its own, without the bookkeeping
            try:
                with self.transaction() as conn:
                    return work(conn)
            finally:
                self._group_done()
        mine = _Grouped(work)
        with self._group:
            self._waiting.append(mine)
            while self._grouping and not mine.done:
                self._group.wait()
            if not mine.done:
                self._grouping = True
                group, self._waiting = self._waiting, []
        if not mine.done:
            try:
                self._commit(group)
            finally:
                self._group_done(group)
        if mine.error is not None:
            raise mine.error
        return cast(T, mine.result)

    def _group_done(self, group: Sequence[_Grouped] = ()) -> None:
        with self._group:
            for item in group:
                item.done = True
            self._grouping = False
            if self._waiting or group:
                self._group.notify_all()

    def _commit(self, group: list[_Grouped]) -> None:
        try:
            with self.transaction() as conn:
                if len(group) == 1:  # alone: its own exception undoes the transaction
                    group[0].result = group[0].work(conn)
                    return
                for item in group:
                    conn.execute("SAVEPOINT grouped")
                    try:
                        item.result = item.work(conn)
                    except Exception as error:
                        conn.execute("ROLLBACK TO grouped")
                        item.error = error
                    conn.execute("RELEASE grouped")
        except BaseException as error:  # not committed: none of the group is
            for item in group:
                item.error = item.error or error
            if not isinstance(error, Exception):
                raise

    def purge(self) -> None:
        """Copy the write-ahead log into the file and truncate it: no old version of a page stays behind."""
        self.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


@dataclass
class _Grouped:
    """Work waiting for a grouped transaction, and what came of it."""

    work: Callable[[sqlite3.Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class WakeUp:
    """A signal from a writer to one reader in the same process: the reader wakes at once instead of at its
    next poll. A signal given while the reader is not waiting is kept for its next wait."""

    def __init__(self) -> None:
        self._signal = threading.Event()

    def signal(self) -> None:
        self._signal.set()

    def wait(self, timeout: float) -> bool:
        """True if signalled (and the signal is used up), False after `timeout`."""
        if self._signal.wait(timeout):
            self._signal.clear()
            return True
        return False


class WakeUps:
    """A writer's wake-ups for every reader of the same thing (a store's appends, a hub partition): each
    reader listens with a WakeUp of its own, so one reader using up a signal never hides it from another
    (two consumer groups reading one partition each wake for every publish)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: weakref.WeakSet[WakeUp] = weakref.WeakSet()

    def listen(self) -> WakeUp:
        """A reader's own wake-up, signalled by every signal() from now on while the reader keeps it."""
        listener = WakeUp()
        with self._lock:
            self._listeners.add(listener)
        return listener

    def signal(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener.signal()
