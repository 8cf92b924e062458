"""Errors the control plane raises; the web maps each to an HTTP status."""


class ControlError(Exception):
    """Base: the request was understood and refused; nothing was changed."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ControlError):
    status = 400


class NotFound(ControlError):
    status = 404


class Conflict(ControlError):
    """The action is not allowed in the current state (busy, wrong status)."""

    status = 409


class Refused(ControlError):
    """A policy forbids it right now (ban, deployment switch, permission)."""

    status = 403
