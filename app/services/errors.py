"""Errors services raise for the web layer to show; messages are translated lazily."""


class ServiceError(Exception):
    """A refusal the user can understand and correct; nothing was changed."""

    def __init__(self, message, field: str | None = None):
        super().__init__(message)  # lazy: translated only when shown
        self.message = message
        self.field = field


class NotAllowed(ServiceError):
    """The actor lacks the right for this operation."""
