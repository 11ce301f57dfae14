"""RFC 9457 problem details: the one place errors become HTTP answers.

Core errors (``actors.errors``) map to statuses here and nowhere else; HTTP errors raised
by Quart/Werkzeug (404, 405, 413...) and unexpected exceptions (500) get the same shape.
A 500 never shows the exception: it is logged with the request id, which the body names.
"""

from __future__ import annotations

import logging

import msgspec
from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from actors import errors
from edge.logs import request_id_var

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_STATUS: dict[type[errors.SignageError], int] = {
    errors.Invalid: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.Throttled: 429,
    errors.Unavailable: 503,
}


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """An RFC 9457 problem document (the body of every error answer)."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    request_id: str | None = None


_encoder = msgspec.json.Encoder()


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = Problem(
        type=f"https://signage.invalid/problems/{status}",
        title=title,
        status=status,
        detail=detail,
        field=field,
        request_id=request_id_var.get(),
    )
    response = Response(_encoder.encode(body), status=status, content_type=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="signage"')
    return response


def status_of(exc: errors.SignageError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(errors.SignageError)
    async def _core(exc: errors.SignageError) -> Response:
        headers: dict[str, str] = {}
        if isinstance(exc, errors.Throttled | errors.Unavailable):
            headers["Retry-After"] = str(exc.retry_after)
        field = exc.field if isinstance(exc, errors.Invalid) else None
        return problem(status_of(exc), exc.title, exc.detail, field=field, headers=headers)

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers: dict[str, str] = {}
        if status == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                headers["Allow"] = ", ".join(sorted(allowed))
        return problem(status, exc.name, exc.description or exc.name, headers=headers)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(
            500,
            "Internal Server Error",
            "the server failed to handle this request; quote the request id to an operator",
        )
