"""Formats: how events look outside the process (stored data with upcasting, Cosmos DB documents,
CloudEvents). They import the ports' records only."""
