"""The engine's exceptions: definition errors, and errors that fail a state."""

from __future__ import annotations


class InvalidDefinition(Exception):
    """The definition is refused; `message` is AWS's InvalidDefinition text."""

    def __init__(self, message: str, diagnostics: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = diagnostics or []


class StatesError(Exception):
    """An error that fails the current state (Retry/Catch see `error`)."""

    def __init__(self, error: str, cause: str | None = None):
        super().__init__(error, cause)
        self.error = error
        self.cause = cause


class TaskFailure(StatesError):
    """Raised by a Runtime's invoke to fail the Task with AWS's error and cause."""


class InvalidMock(Exception):
    """TestState's mock does not fit the state (the service's ValidationException)."""
