"""Dead letters: the events a projection could not decode or apply, kept in the read-model store.

One document per (projection generation, stream): a stream has at most one poison event at a time, as
everything after it waits behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from infra.app.conflicts import until_written
from infra.ports.eventstore import StoredEvent
from infra.ports.readmodels import ReadModelStore, ViewDocument

DEAD_LETTERS_MODEL = "dead-letters"
MAX_ERROR_CHARS = 2000
LIST_PAGE = 100


class DeadLetterStatus(StrEnum):
    RETRYING = "retrying"  # failed, and will be tried again when the batch is delivered again
    PARKED = "parked"  # out of attempts: the stream waits behind it until a replay
    REPLAYED = "replayed"  # a replay got past it
    RECOVERED = "recovered"  # a later delivery got past it before it was parked


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    stream_id: str
    version: int
    event_type: str
    error: str
    attempts: int
    status: DeadLetterStatus
    first_failed_at: datetime
    last_failed_at: datetime


class DeadLetters:
    def __init__(self, store: ReadModelStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def record_failure(
        self, model: str, event: StoredEvent, error: BaseException, park_after: int
    ) -> DeadLetter:
        """Count one more failed attempt at `event` (a first one if the last letter was another event);
        the letter is parked once it has `park_after` attempts."""
        message = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]

        def attempt() -> DeadLetter:
            document = self.store.get(DEAD_LETTERS_MODEL, event.stream_id, model)
            previous = _letter(document)
            now = self.clock()
            again = (
                previous is not None
                and previous.version == event.version
                and previous.status in (DeadLetterStatus.RETRYING, DeadLetterStatus.PARKED)
            )
            attempts = previous.attempts + 1 if again and previous else 1
            letter = DeadLetter(
                model=model,
                stream_id=event.stream_id,
                version=event.version,
                event_type=event.type,
                error=message,
                attempts=attempts,
                status=DeadLetterStatus.PARKED if attempts >= park_after else DeadLetterStatus.RETRYING,
                first_failed_at=previous.first_failed_at if again and previous else now,
                last_failed_at=now,
            )
            self._put(letter, document)
            return letter

        return until_written(attempt, f"the dead letter of {event.stream_id}")

    def mark(self, letter: DeadLetter, status: DeadLetterStatus) -> DeadLetter:
        """Move the letter on to `status`, unless it has changed since `letter` was read (another
        version failed, or another replay or delivery got there first): then the stored one stands."""

        def attempt() -> DeadLetter:
            document = self.store.get(DEAD_LETTERS_MODEL, letter.stream_id, letter.model)
            current = _letter(document)
            if current is None or (current.version, current.status) != (letter.version, letter.status):
                return current or letter
            changed = current.model_copy(update={"status": status})
            self._put(changed, document)
            return changed

        return until_written(attempt, f"the dead letter of {letter.stream_id}")

    def get(self, model: str, stream_id: str) -> DeadLetter | None:
        return _letter(self.store.get(DEAD_LETTERS_MODEL, stream_id, model))

    def page(self, model: str, after: str = "", limit: int = 100) -> list[DeadLetter]:
        """The model's letters in stream-id order, from just after the stream id `after`."""
        documents = self.store.query(
            DEAD_LETTERS_MODEL, model, key_from=after + "\x00" if after else "", limit=limit
        )
        return [letter for letter in map(_letter, documents) if letter is not None]

    def all(self, model: str) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        while True:
            page = self.page(model, letters[-1].stream_id if letters else "", LIST_PAGE)
            letters.extend(page)
            if len(page) < LIST_PAGE:
                return letters

    def delete(self, letter: DeadLetter) -> None:
        self.store.delete(DEAD_LETTERS_MODEL, letter.stream_id, letter.model)

    def _put(self, letter: DeadLetter, document: ViewDocument | None) -> None:
        self.store.put(
            DEAD_LETTERS_MODEL,
            ViewDocument(
                id=letter.stream_id,
                view=letter.model_dump(mode="json"),
                etag=None if document is None else document.etag,
                partition=letter.model,
                key=letter.stream_id,
            ),
        )


def _letter(document: ViewDocument | None) -> DeadLetter | None:
    if document is None or document.view is None:
        return None
    return DeadLetter.model_validate(document.view)
