"""Fakes of what the project does not own, kept faithful to the real thing's semantics."""
