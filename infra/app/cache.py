"""The one in-process cache: bounded (least recently used go first), safe across threads."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from cachetools import LRUCache


class BoundedCache[K: Hashable, V]:
    """At most `size` entries (0: caches nothing); each call holds the lock only for the cache itself."""

    def __init__(self, size: int) -> None:
        self._entries: LRUCache[K, V] | None = LRUCache(maxsize=size) if size else None
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

    def forget(self, key: K) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries.pop(key, None)
