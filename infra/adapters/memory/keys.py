"""The key store in memory: the same contract as every backend, for tests."""

from __future__ import annotations

import secrets
import threading

from infra.ports.keys import KEY_BYTES


class InMemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, subject: str) -> bytes | None:
        with self._lock:
            return self._keys.get(subject)

    def get_or_create(self, subject: str) -> bytes:
        with self._lock:
            return self._keys.setdefault(subject, secrets.token_bytes(KEY_BYTES))

    def destroy(self, subject: str) -> bool:
        with self._lock:
            return self._keys.pop(subject, None) is not None
