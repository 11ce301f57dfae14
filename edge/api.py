"""The route toolkit: decode requests, encode answers, and document both.

:class:`ApiRouter` wraps a Quart blueprint; each route states its request and response
Structs, which validates bodies once at the edge and feeds ``/openapi.json`` from the
same declarations, so the document cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from quart import Blueprint, Response, request

from actors.errors import Invalid
from actors.settings import Settings
from edge.bodies import refuse_duplicate_keys

T = TypeVar("T")
Handler = Callable[..., Awaitable[Response]]

_encoder = msgspec.json.Encoder()


class Operation(msgspec.Struct, frozen=True):
    """What ``/openapi.json`` says of one route."""

    method: str
    path: str
    summary: str
    tag: str
    status: int
    request: Any = None
    response: Any = None
    auth: str | None = "bearer"
    errors: tuple[int, ...] = ()
    #: The view function's name; with the blueprint's name, Quart's endpoint.
    endpoint: str = ""
    #: Overrides ``MAX_BODY_BYTES`` for this route (uploads): bytes, or read from the
    #: settings when the app is built.
    max_body: int | Callable[[Settings], int] | None = None
    #: A Struct whose fields are the query parameters (see :func:`query`).
    query: Any = None
    #: The success body's media type, when not JSON (e.g. ``application/x-ndjson``).
    media_type: str = "application/json"
    #: Media types of a raw (non-JSON) request body, e.g. an upload's.
    request_media: tuple[str, ...] = ()
    #: Other statuses that answer with the success body (``/ready``'s 503), not a problem.
    same_body: tuple[int, ...] = ()


def decode[T](kind: type[T], raw: bytes | str) -> T:
    """Validate ``raw`` JSON as ``kind``.

    :raises Invalid: (422) naming the offending field, for bad JSON, unknown fields,
        wrong types, violated constraints or a key repeated within one object.
    """
    try:
        decoded = msgspec.json.decode(raw or b"null", type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError as exc:
        raise Invalid(f"the body is not valid JSON: {exc}") from None
    if raw:
        refuse_duplicate_keys(raw)
    return decoded


def query[T](kind: type[T]) -> T:
    """Validate the current request's query string as ``kind`` (a Struct of scalars).

    Empty values count as absent; a repeated parameter uses its first value.

    :raises Invalid: (422) naming the parameter, for unknown parameters or bad values.
    """
    given = {key: value for key, value in request.args.items() if value != ""}
    for key, value in given.items():
        if "\x00" in value:
            raise Invalid("NUL characters are not allowed", field=key)
    try:
        return msgspec.convert(given, type=kind, strict=False)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None


_UNKNOWN_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]*)`")


def _invalid(exc: msgspec.ValidationError) -> Invalid:
    """msgspec's message, with ``field`` the path to the culprit (``a.b[0]``); for an
    unknown or a missing field, the path to that field itself."""
    message, _, where = str(exc).partition(" - at ")
    field = where.removeprefix("`$").removeprefix(".").rstrip("`")
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown is not None:
        field = f"{field}.{unknown.group(1)}" if field else unknown.group(1)
    return Invalid(message, field=field or None)


async def body[T](kind: type[T]) -> T:
    """Decode the current request's body as ``kind`` (422 on any mismatch)."""
    raw: bytes = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    return decode(kind, raw)


def encoded(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response from a Struct (or any msgspec-encodable value)."""
    return Response(
        _encoder.encode(value), status=status, content_type="application/json", headers=headers
    )


def no_content() -> Response:
    return Response(b"", status=204)


class ApiRouter:
    """A blueprint whose routes also describe themselves for OpenAPI."""

    def __init__(self, name: str, import_name: str, *, tag: str, url_prefix: str = "") -> None:
        self.blueprint = Blueprint(name, import_name, url_prefix=url_prefix or None)
        self.tag = tag
        self.url_prefix = url_prefix
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        request: Any = None,
        response: Any = None,
        status: int = 200,
        auth: str | None = "bearer",
        errors: tuple[int, ...] = (),
        max_body: int | Callable[[Settings], int] | None = None,
        query: Any = None,
        media_type: str = "application/json",
        request_media: tuple[str, ...] = (),
        same_body: tuple[int, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.blueprint.add_url_rule(path, view_func=handler, methods=[method])
            self.operations.append(
                Operation(
                    method=method.lower(),
                    path=self.url_prefix + path,
                    summary=summary,
                    tag=self.tag,
                    status=status,
                    request=request,
                    response=response,
                    auth=auth,
                    errors=errors,
                    endpoint=handler.__name__,
                    max_body=max_body,
                    query=query,
                    media_type=media_type,
                    request_media=request_media,
                    same_body=same_body,
                )
            )
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)
