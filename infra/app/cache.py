"""The one in-process cache: bounded (least recently used go first), optionally timed, safe across threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from cachetools import LRUCache


class BoundedCache[K: Hashable, V]:
    """At most `size` entries (0: caches nothing), each kept at most `ttl_seconds` if given (for what may
    change elsewhere: another process's write is seen within that time); each call holds the lock only
    for the cache itself."""

    def __init__(
        self, size: int, ttl_seconds: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # an entry is its value and when it stops being served (None: never): a check on the way out,
        # cheaper on this path (every command) than cachetools' TTLCache, which keeps a second list in order
        self._entries: LRUCache[K, tuple[float | None, V]] | None = LRUCache(maxsize=size) if size else None
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        if self._entries is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires is not None and self._clock() >= expires:
                del self._entries[key]
                return None
            return value

    def put(self, key: K, value: V) -> None:
        if self._entries is not None:
            expires = None if self._ttl is None else self._clock() + self._ttl
            with self._lock:
                self._entries[key] = (expires, value)

    def clear(self) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries.clear()

    def forget(self, key: K) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries.pop(key, None)
