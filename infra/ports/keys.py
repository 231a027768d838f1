"""The key store port: one data key per data subject, for crypto-shredding personal data."""

from __future__ import annotations

from typing import Protocol

KEY_BYTES = 32  # AES-256


class KeyStore(Protocol):
    """Data keys by subject id. Destroying a subject's key erases everything sealed with it: the sealed
    fields stay where they are stored (an append-only log, its copies and backups) but can no longer be
    read by anyone."""

    def get(self, subject: str) -> bytes | None:
        """The subject's key, or None if it has none (never had, or destroyed)."""
        ...

    def get_or_create(self, subject: str) -> bytes:
        """The subject's key, created if it has none; two callers racing to create get the same key."""
        ...

    def destroy(self, subject: str) -> bool:
        """Destroy the subject's key, if it has one (True); its deletion is final on this store's side."""
        ...
