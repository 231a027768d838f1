"""Sealing personal data (crypto-shredding): each field marked `Personal` is stored encrypted with its data
subject's key (AES-256-GCM), so destroying that key erases the field everywhere it was stored.

A sealed field is stored as {"sealed": "A256GCM", "subject": <subject id>, "nonce": ..., "ciphertext": ...}
(base64url, no padding); the field's name and the subject id are its associated data, so a ciphertext
cannot be moved to another field or subject. A subject id is the HMAC-SHA256, under the store's lookup
secret (itself a key in the key store), of the identifier the `Personal` marker names (an email address,
as domain.decider.person_identifier compares them): the same person always gets the same id, and nobody
without the secret can turn an address into it. Once the subject's key is gone, every sealed field of
theirs opens as ERASED.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import types
import typing
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from domain.decider import ERASED, Personal, person_identifier
from infra.app.cache import BoundedCache
from infra.ports.keys import KeyStore

ALGORITHM = "A256GCM"
# The secret that turns identifiers into subject ids: a key of the key store under this name, which no
# subject id can take (subject ids are hex).
LOOKUP_SECRET = "lookup-secret"
_ENVELOPE = frozenset({"sealed", "subject", "nonce", "ciphertext"})
_SCALARS = frozenset({str, int, float, bool, type(None)})  # what JSON holds that cannot be sealed


class Sealer:
    """Seals the personal fields of a model's data, and opens any sealed field it finds, with keys from a
    KeyStore, cached for `cache_seconds` (a key destroyed elsewhere is unusable here within that time; one
    destroyed through `forget` at once)."""

    def __init__(self, keys: KeyStore, cache_seconds: float = 60.0, cache_size: int = 10_000) -> None:
        self.keys = keys
        self._cache_seconds = cache_seconds
        self._cache: BoundedCache[str, bytes | None] = BoundedCache(cache_size, cache_seconds)
        # identifier -> subject id: an HMAC per row a projection files under a person, on every event
        self._subjects: BoundedCache[str, str] = BoundedCache(cache_size, cache_seconds)

    @property
    def cache_seconds(self) -> float:
        return self._cache_seconds

    # --- subjects ---

    def subject_of(self, identifier: str) -> str:
        """The subject id of the person `identifier` (an email address) names."""
        subject = self._subjects.get(identifier)
        if subject is None:
            subject = self._hmac(b"subject:", person_identifier(identifier))
            self._subjects.put(identifier, subject)
        return subject

    def keyed(self, text: str) -> str:
        """An HMAC of `text` under the lookup secret: what may hold personal data (an idempotency
        fingerprint, say), kept comparable without being something anyone can confirm a guess against."""
        return "keyed:" + self._hmac(b"text:", text)

    def _hmac(self, label: bytes, text: str) -> str:
        secret = self._key(LOOKUP_SECRET, create=True)
        assert secret is not None
        return hmac.new(secret, label + text.encode(), hashlib.sha256).hexdigest()

    def forget(self, subject: str) -> bool:
        """Destroy the subject's key: every field sealed with it opens as ERASED from now on."""
        if subject == LOOKUP_SECRET:
            raise ValueError("the lookup secret is not a subject")
        destroyed = self.keys.destroy(subject)
        self._cache.put(subject, None)
        return destroyed

    # --- sealing ---

    def seal(self, model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
        """`data` (a dump of `model`) with each personal field sealed, in nested models too."""
        sealed = dict(data)
        personal_fields, nested_models = _layout(model)
        for name, personal in personal_fields:
            value, identifier = sealed.get(name), data.get(personal.subject)
            if isinstance(value, str) and value != ERASED and isinstance(identifier, str):
                sealed[name] = self._seal_value(self.subject_of(identifier), name, value)
        for name, nested in nested_models:
            if isinstance(value := sealed.get(name), Mapping):
                sealed[name] = self.seal(nested, value)
        return sealed

    def seals_any(self, model: type[BaseModel]) -> bool:
        """Whether `seal` seals anything of `model`'s data (a personal field of it, or of a model in it)."""
        return any(_layout(model))

    def open(self, data: Any) -> Any:
        """`data` with every sealed field in it, at any depth, opened (ERASED where its key is gone); `data`
        itself where nothing in it is sealed (it is read on every load: most of it never was)."""
        if type(data) in _SCALARS:
            return data
        if type(data) is dict or isinstance(data, Mapping):  # JSON as read is dicts: the ABC check is slow
            opened: dict[str, Any] | None = None
            for key, value in data.items():
                if type(value) in _SCALARS:
                    continue
                new = self._open_value(key, value) if _is_sealed(value) else self.open(value)
                if new is not value:
                    if opened is None:
                        opened = dict(data)
                    opened[key] = new
            return data if opened is None else opened
        if isinstance(data, list):
            items = [self.open(item) for item in data]
            return data if all(new is old for new, old in zip(items, data, strict=True)) else items
        return data

    def _seal_value(self, subject: str, field: str, value: str) -> dict[str, str]:
        key = self._key(subject, create=True)
        assert key is not None
        nonce = secrets.token_bytes(12)
        ciphertext = AESGCM(key).encrypt(nonce, value.encode(), _associated(subject, field))
        return {"sealed": ALGORITHM, "subject": subject, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}

    def _open_value(self, field: str, sealed: Mapping[str, str]) -> str:
        subject = sealed["subject"]
        key = self._key(subject, create=False)
        if key is None:
            return ERASED
        try:
            plain = AESGCM(key).decrypt(
                _unb64(sealed["nonce"]), _unb64(sealed["ciphertext"]), _associated(subject, field)
            )
        except InvalidTag:  # sealed with a key since destroyed (the subject has a new one now)
            return ERASED
        return plain.decode()

    def _key(self, subject: str, create: bool) -> bytes | None:
        key = self._cache.get(subject)
        if key is None:
            key = self.keys.get_or_create(subject) if create else self.keys.get(subject)
            if key is not None:
                self._cache.put(subject, key)
        return key


@functools.cache
def _layout(
    model: type[BaseModel],
) -> tuple[list[tuple[str, Personal]], list[tuple[str, type[BaseModel]]]]:
    """A model's personal fields, and its fields holding models that have some (events are sealed on every
    append: this is worked out once per model)."""
    personal, nested = [], []
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, Personal)), None)
        if marker is not None:
            personal.append((name, marker))
        elif (inner := _model_of(info)) is not None and any(_layout(inner)):
            nested.append((name, inner))
    return personal, nested


def sealed_subjects(data: Any) -> set[str]:
    """The subjects whose keys the sealed fields in `data` (at any depth) were sealed with."""
    if _is_sealed(data):
        return {data["subject"]}
    if isinstance(data, Mapping):
        return {subject for value in data.values() for subject in sealed_subjects(value)}
    if isinstance(data, list):
        return {subject for item in data for subject in sealed_subjects(item)}
    return set()


def _is_sealed(value: Any) -> bool:
    return isinstance(value, Mapping) and value.keys() == _ENVELOPE and value.get("sealed") == ALGORITHM


def _associated(subject: str, field: str) -> bytes:
    return f"eventbank/{subject}/{field}".encode()


def _model_of(info: FieldInfo) -> type[BaseModel] | None:
    """The model a field holds (alone or optional), if it holds one."""
    annotation = info.annotation
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
