"""The one in-process cache: bounded (least recently used go first), optionally timed, safe across threads."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from cachetools import Cache, LRUCache, TTLCache


class BoundedCache[K: Hashable, V]:
    """At most `size` entries (0: caches nothing), each kept at most `ttl_seconds` if given (for what may
    change elsewhere: another process's write is seen within that time); each call holds the lock only
    for the cache itself."""

    def __init__(self, size: int, ttl_seconds: float | None = None) -> None:
        self._entries: Cache[K, V] | None = None
        if size and ttl_seconds is not None:
            self._entries = TTLCache(maxsize=size, ttl=ttl_seconds)
        elif size:
            self._entries = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        if self._entries is None:
            return None
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries[key] = value

    def clear(self) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries.clear()

    def forget(self, key: K) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries.pop(key, None)
