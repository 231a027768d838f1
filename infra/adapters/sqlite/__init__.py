"""The embedded backend on SQLite: what `make run` runs on (event store with its change feed, hub, read
models, snapshots)."""
