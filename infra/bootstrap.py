"""The composition root: the one place that builds stores, clients and services from settings.

Nothing is built at import time. `root()` builds once per worker process, on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from domain import accounts
from infra.commands import CommandHandler
from infra.embedded_hub import EmbeddedHub
from infra.projector import ProjectionRunner
from infra.readmodels import SqliteReadModelStore
from infra.relay import Relay
from infra.settings import (
    ACCOUNTS_EVENTS_CONTAINER,
    ACCOUNTS_HUB,
    ACCOUNTS_SOURCE,
    Settings,
    load_settings,
)
from infra.snapshots import SqliteSnapshotStore
from infra.sqlite_store import SqliteEventStore
from projections import account_summary


@dataclass(frozen=True)
class AccountsService:
    commands: CommandHandler[accounts.Account, accounts.AccountCommand, accounts.AccountEvent]
    summaries: ProjectionRunner[accounts.AccountEvent, account_summary.AccountSummary]
    relay: Relay


class Root:
    """Everything one worker needs, built from settings. The embedded pieces are also what the dev
    host drives the change-feed and hub triggers from."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        service_dir = settings.data_dir / "accounts"
        self.events = SqliteEventStore(service_dir / "events.sqlite")
        self.hub = EmbeddedHub(service_dir / "hub.sqlite", partition_count=settings.hub_partitions)
        self.read_models = SqliteReadModelStore(service_dir / "readmodels.sqlite")
        self.snapshots = SqliteSnapshotStore(service_dir / "snapshots.sqlite")
        commands = CommandHandler(
            self.events,
            accounts.decider,
            snapshots=self.snapshots,
            snapshot_every=settings.snapshot_every,
            cache_size=settings.state_cache_size,
        )
        self.accounts = AccountsService(
            commands=commands,
            summaries=ProjectionRunner(
                account_summary.projection, commands.codec, self.read_models, self.events
            ),
            relay=Relay(self.hub, ACCOUNTS_SOURCE),
        )

    def events_container(self, name: str) -> SqliteEventStore:
        """The embedded store behind the events container a change-feed trigger names."""
        if name != ACCOUNTS_EVENTS_CONTAINER:
            raise LookupError(f"no events container named {name!r}")
        return self.events

    def event_hub(self, name: str) -> EmbeddedHub:
        """The embedded hub behind the event hub a trigger names."""
        if name != ACCOUNTS_HUB:
            raise LookupError(f"no event hub named {name!r}")
        return self.hub

    def close(self) -> None:
        self.events.close()
        self.hub.close()
        self.read_models.close()
        self.snapshots.close()


_lock = threading.Lock()
_root: Root | None = None


def root() -> Root:
    global _root
    if _root is None:
        with _lock:
            if _root is None:
                _root = Root(load_settings())
    return _root


def reset() -> None:
    """Close and forget the root, so the next call builds it again from the current settings."""
    global _root
    with _lock:
        if _root is not None:
            _root.close()
        _root = None
