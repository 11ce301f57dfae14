"""The core's error hierarchy.

Use cases raise these; the edge maps each class to one HTTP status (problem+json)
in exactly one place (``edge/problems.py``). Name errors by what the caller did
wrong, not by where the code noticed it.
"""

from __future__ import annotations


class SignageError(Exception):
    """Base of every error the core raises on purpose."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(SignageError):
    """The request is well-formed but breaks a rule; ``field`` names the culprit."""

    title = "Invalid request"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class Unauthenticated(SignageError):
    """No credentials, or credentials that do not prove who the caller is."""

    title = "Unauthenticated"


class Forbidden(SignageError):
    """The caller is known but may not do this."""

    title = "Forbidden"


class NotFound(SignageError):
    """No such resource *for this caller*: other tenants' resources are NotFound too."""

    title = "Not found"


class Conflict(SignageError):
    """The resource's current state forbids the change (taken name, illegal transition)."""

    title = "Conflict"


class Throttled(SignageError):
    """Too many attempts; the caller may retry after ``retry_after`` seconds."""

    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class TooLarge(SignageError):
    """The request's payload exceeds its limit (an upload past ``MAX_UPLOAD_BYTES``)."""

    title = "Payload too large"


class UnsupportedMedia(SignageError):
    """The payload is not of a type this resource accepts (judged from its bytes)."""

    title = "Unsupported media type"


class Unavailable(SignageError):
    """A dependency (PostgreSQL, Redis) is unreachable; retrying after ``retry_after``
    seconds may succeed (the answer's ``Retry-After``, so clients back off instead of
    hammering a database that is coming back)."""

    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)
