class DomainError(Exception):
    """A command the business rules refuse. Each subclass is one named rule; HTTP maps them in one place."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The command names an aggregate that does not exist."""


class Conflict(DomainError):
    """The command is well-formed but conflicts with the aggregate's current state."""
