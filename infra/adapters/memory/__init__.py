"""The in-memory backend: real implementations of the ports, for tests and laws."""
