"""How the dev host runs a function the way the host does: an invocation through the worker, retried per the
function's policy with the retry context; and the pumps that feed the non-HTTP triggers from their
sources, moving a checkpoint only after the function succeeded (with faults injected on demand)."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from infra.ports.sources import ChangeFeedSource, HubMessage, PartitionSource
from infra.tools import bindings
from infra.tools import function_rpc_pb2 as rpc
from infra.tools.worker import FunctionMetadata, PythonWorker, RetryOptions, WorkerError

log = logging.getLogger("eventbank.devhost")

SOURCE_FAILURE_BACKOFF_SECONDS = 1.0


# once a policy's retries are spent, Azure moves on; the dev host keeps retrying, at most this far apart
SPENT_POLICY_RETRY_SECONDS = 60.0


def retry_delays(policy: RetryOptions) -> Iterator[float]:
    """The waits before each retry of a function's @app.retry policy. Unlike Azure, the dev host never
    moves a checkpoint past a failed batch: once the policy's retries are spent it keeps retrying at the
    longest interval."""
    attempt = 0
    spent = min(max(policy.delay, policy.maximum), SPENT_POLICY_RETRY_SECONDS)
    while True:
        within_policy = policy.max_retry_count < 0 or attempt < policy.max_retry_count
        if not within_policy:
            yield spent
        elif policy.strategy == "exponential_backoff":
            yield min(policy.minimum * 2**attempt, policy.maximum)
        else:
            yield policy.delay
        attempt += 1


Binding = tuple[rpc.TypedData, dict[str, rpc.TypedData]]  # a trigger's data and its trigger metadata


class Turns:
    """How many of one process's trigger invocations run at once, each waiting its turn in arrival order.

    The pumps are threads of one Python process, and so is the function code they invoke: past one or two
    at a time they only take turns at the GIL, and each SQLite call that gives it up waits behind all the
    others to get it back (both services' triggers in one process at 50 transfers/s: p99 1 to 2 s with
    every pump free, 0.3 to 0.5 s one at a time). A turn covers one attempt and, after a success, the
    checkpoint; waiting for messages and backing off (before a retry, or after a checkpoint failed) are
    outside it, so a failing function or source never holds the others up."""

    def __init__(self, at_once: int) -> None:
        if at_once < 1:
            raise ValueError("at least one invocation must be able to run")
        self._lock = threading.Lock()
        self._free = at_once
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    @property
    def waiting(self) -> int:
        """How many wait for a turn now."""
        with self._lock:
            return len(self._waiting)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        self._take()
        try:
            yield
        finally:
            self._hand_on()

    def _take(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            waiter = threading.Lock()
            waiter.acquire()
            self._waiting.append(waiter)
        try:
            waiter.acquire()  # released when a turn is handed over to it, first come first served
        except BaseException:  # interrupted while waiting: leave the line, or pass on a turn just given
            with self._lock:
                handed_over = waiter not in self._waiting
                if not handed_over:
                    self._waiting.remove(waiter)
            if handed_over:
                self._hand_on()
            raise

    def _hand_on(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1


UNLIMITED = 1_000_000


class Invoker:
    """Invokes one function through the worker, as the host does: an invocation request per attempt, with
    the attempt in the retry context, retried per the function's policy; each attempt in its turn."""

    def __init__(
        self,
        python: PythonWorker,
        function: FunctionMetadata,
        stop: threading.Event,
        turns: Turns | None = None,
    ) -> None:
        self.python, self.function = python, function
        self.name = function.name
        self.retry = function.retry or RetryOptions()
        self.stop = stop
        self.turns = turns or Turns(UNLIMITED)

    def __call__(self, binding: Binding, reason: str, then: Callable[[], bool] = lambda: True) -> bool:
        """Invoke until the function succeeds, retrying per its policy, then call `then` (the checkpoint) in
        the same turn and answer what it answers; False if stopped first. As the host does, a retry carries
        the retry context: the attempt, the policy's limit and the last error."""
        retry: rpc.RetryContext | None = None
        for attempt, delay in enumerate(retry_delays(self.retry), start=1):
            with self.turns.turn():
                if self.stop.is_set():  # stopped while waiting for the turn: invoke nothing more
                    return False
                failure = self._invoke_once(binding, reason, retry)
                if failure is None:
                    return then()
            log.warning("Retrying 'Functions.%s' in %.1fs", self.name, delay)
            if self.stop.wait(delay):
                return False
            retry = rpc.RetryContext(
                retry_count=attempt, max_retry_count=self.retry.max_retry_count, exception=failure
            )
        return False  # pragma: no cover - retry_delays() never ends

    def once(self, binding: Binding, reason: str) -> bool:
        with self.turns.turn():
            return not self.stop.is_set() and self._invoke_once(binding, reason, None) is None

    def _invoke_once(
        self, binding: Binding, reason: str, retry: rpc.RetryContext | None
    ) -> rpc.RpcException | None:
        """One invocation; None if it succeeded, else the worker's exception (logged with its stack)."""
        invocation = uuid.uuid4()
        started = time.perf_counter()
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", self.name, reason, invocation)
        try:
            self.python.invoke(self.function, *binding, retry=retry)
        except WorkerError as error:
            stack = error.exception.stack_trace if error.exception is not None else ""
            log.error("Executed 'Functions.%s' (Failed, Id=%s): %s\n%s", self.name, invocation, error, stack)
            return error.exception or rpc.RpcException(message=str(error))
        log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
            self.name,
            invocation,
            (time.perf_counter() - started) * 1000,
        )
        return None


class ChangeFeedPump(threading.Thread):
    """Feeds a Cosmos DB trigger from a change-feed source, committing its position after success."""

    def __init__(
        self, invoker: Invoker, source: ChangeFeedSource, max_items: int, poll_seconds: float
    ) -> None:
        super().__init__(name=f"changefeed-{invoker.name}", daemon=True)
        self.invoker, self.source, self.max_items, self.poll_seconds = (
            invoker,
            source,
            max_items,
            poll_seconds,
        )

    def run(self) -> None:
        stop = self.invoker.stop
        while not stop.is_set():
            page = _guarded(self.source.description, lambda: self.source.next_page(self.max_items), stop)
            if page is None:
                self.source.wait(self.poll_seconds)
                continue
            binding = _guarded(self.source.description, functools.partial(_documents, page.documents), stop)
            if binding is not None:
                # if the commit fails the page comes again, and its duplicates are no-ops downstream
                commit = functools.partial(self.source.commit, page)
                then = functools.partial(_recorded, self.source.description, commit)
                if not self.invoker(binding, f"New changes on the {self.source.description}", then):
                    stop.wait(SOURCE_FAILURE_BACKOFF_SECONDS)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TimerPump(threading.Thread):
    """Fires a timer trigger on its NCRONTAB schedule (six fields, seconds first), as the host does: one
    invocation at a time (a run the schedule passed meanwhile is skipped), with the schedule's status."""

    def __init__(self, invoker: Invoker, schedule: str, clock: Callable[[], dt.datetime] = _utc_now) -> None:
        super().__init__(name=f"timer-{invoker.name}", daemon=True)
        self.invoker, self.schedule, self.clock = invoker, schedule, clock

    def run(self) -> None:
        stop, last = self.invoker.stop, None
        while not stop.is_set():
            due = next_occurrence(self.schedule, self.clock())
            if stop.wait(max(0.0, (due - self.clock()).total_seconds())):
                return
            following = next_occurrence(self.schedule, due)
            binding: Binding = bindings.timer_info(last, following, past_due=False), {}
            self.invoker.once(binding, f"Timer fired at {due.isoformat()}")
            last = due


def next_occurrence(schedule: str, after: dt.datetime) -> dt.datetime:
    """The schedule's first time strictly after `after` (UTC)."""
    found: dt.datetime = croniter(schedule, after, second_at_beginning=True).get_next(dt.datetime)
    return found


def _documents(documents: Sequence[dict[str, Any]]) -> Binding:
    return bindings.document_list(documents), {}


@dataclass(frozen=True)
class Chaos:
    """Faults the dev host injects into Event Hubs deliveries, to watch the read models survive them:
    `duplicate` and `reorder` are the chances a batch has some messages twice or comes shuffled, `crash`
    the chance an invocation gets only part of its batch and then fails (as if the worker died half-way),
    so the whole batch comes again."""

    duplicate: float = 0.0
    reorder: float = 0.0
    crash: float = 0.0
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str) -> Chaos:
        """From `duplicate=0.3,reorder=0.5,crash=0.2,seed=7` (any subset)."""
        values: dict[str, float | int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            if name not in ("duplicate", "reorder", "crash", "seed"):
                raise ValueError(f"unknown chaos setting {name!r}: use duplicate, reorder, crash, seed")
            values[name] = int(value) if name == "seed" else float(value)
            if name != "seed" and not 0 <= values[name] <= 1:
                raise ValueError(f"chaos {name} is a probability between 0 and 1")
        return cls(**values)  # type: ignore[arg-type]

    def mangle(self, rng: random.Random, messages: Sequence[HubMessage]) -> list[HubMessage]:
        batch = list(messages)
        if batch and rng.random() < self.duplicate:
            batch.extend(rng.choices(batch, k=rng.randint(1, len(batch))))
        if rng.random() < self.reorder:
            rng.shuffle(batch)
        return batch


class HubPartitionPump(threading.Thread):
    """Feeds an Event Hubs trigger from one partition source, checkpointing after success."""

    def __init__(
        self,
        invoker: Invoker,
        source: PartitionSource,
        max_batch: int,
        many: bool,
        poll_seconds: float,
        chaos: Chaos | None = None,
        hub: str = "",
        consumer_group: str = "$Default",
    ) -> None:
        super().__init__(name=f"hub-{invoker.name}-{source.description}", daemon=True)
        self.invoker, self.source = invoker, source
        self.context = bindings.PartitionContext(hub, consumer_group, source.partition_id)
        self.max_batch = max_batch if many else 1
        self.many, self.poll_seconds = many, poll_seconds
        self.chaos = chaos
        self.rng = random.Random(None if chaos is None or chaos.seed is None else f"{chaos.seed}-{self.name}")

    def run(self) -> None:
        stop = self.invoker.stop
        while not stop.is_set():
            received = (
                _guarded(self.source.description, lambda: self.source.receive(self.max_batch), stop) or []
            )
            if not received:
                self.source.wait(self.poll_seconds)
                continue
            delivered = received if self.chaos is None else self.chaos.mangle(self.rng, received)
            if self.many and self.chaos is not None and self.rng.random() < self.chaos.crash:
                part = self.rng.randint(0, len(delivered) - 1)
                log.warning(
                    "chaos: 'Functions.%s' crashes after %d of %d events",
                    self.invoker.name,
                    part,
                    len(delivered),
                )
                self.invoker.once(
                    bindings.event_batch(delivered[:part], self.context),
                    "chaos: a worker that dies half-way through its batch",
                )
            binding = _guarded(self.source.description, functools.partial(self._binding, delivered), stop)
            if binding is not None:
                checkpoint = functools.partial(
                    self.source.checkpoint, max(message.sequence_number for message in received)
                )
                then = functools.partial(_recorded, self.source.description, checkpoint)
                if not self.invoker(binding, f"New events on the {self.source.description}", then):
                    stop.wait(SOURCE_FAILURE_BACKOFF_SECONDS)

    def _binding(self, delivered: Sequence[HubMessage]) -> Binding:
        if self.many:
            return bindings.event_batch(delivered, self.context)
        return bindings.single_event(delivered[0], self.context)


def _guarded[T](description: str, call: Callable[[], T], stop: threading.Event) -> T | None:
    """A call on a trigger's source, or encoding what it gave; a failure (a backend away) is logged, waited
    out, and retried by the caller's loop. No checkpoint has moved, so nothing is lost."""
    try:
        return call()
    except Exception:
        log.exception("the %s failed; retrying in %.0fs", description, SOURCE_FAILURE_BACKOFF_SECONDS)
        stop.wait(SOURCE_FAILURE_BACKOFF_SECONDS)
        return None


def _recorded(description: str, record: Callable[[], object]) -> bool:
    """A checkpoint or commit on a trigger's source, in the invocation's turn: a failure is logged and
    answers False, and the caller waits it out once the turn is over; the batch comes again, and its
    duplicates are no-ops."""
    try:
        record()
    except Exception:
        log.exception("the %s failed to record its position; the batch comes again", description)
        return False
    return True
