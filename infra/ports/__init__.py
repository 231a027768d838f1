"""Ports: the protocols and records the application is written against (event store, publisher, read
models, snapshots). They import nothing of ours but the domain's types."""
