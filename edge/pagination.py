"""Cursors: a page's resume key, sealed so that clients can hold it but not forge it.

A cursor is ``<payload>.<mac>``, both base64url without padding: the payload is the sort
key of the last row of a page (JSON), the MAC an HMAC-SHA256 (truncated to 128 bits) over
the list it belongs to (its name, tenant and filters) and the payload, keyed from
``JWT_SECRET``. Every node of a cluster shares that secret, so a cursor works on any node;
rotating the secret ends every pagination in progress (clients start again). Key values are
not secret (names, times, ids the client already saw); the MAC only makes a cursor
tamper-evident and bound to its list, so the store never meets a key it did not produce.

See ``actors/pagination.py`` for the contract and the keyset reads behind it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache
from typing import Any

import msgspec

from actors.errors import Invalid
from actors.pagination import Page, PageRequest, Paging, SortKey
from edge.container import container

_CONTEXT = b"signage pagination cursor v1"
_MAC_BYTES = 16
_encoder = msgspec.json.Encoder()


class Cursors:
    """Seals and opens cursors with one secret."""

    def __init__(self, secret: str) -> None:
        # A key of its own, so that a cursor's MAC can never stand for anything else
        # signed with the JWT secret.
        self._key = hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()

    def seal(self, scope: bytes, key: object) -> str:
        payload = _encoder.encode(key)
        return f"{_b64(payload)}.{_b64(self._mac(scope, payload))}"

    def open[K](self, scope: bytes, cursor: str, kind: type[K]) -> K:
        """The key sealed in ``cursor``, as ``kind``.

        :raises Invalid: (422, field ``cursor``) if the cursor was not made by
            :meth:`seal` for this ``scope`` with this secret, or holds no ``kind``.
        """
        body, dot, mac = cursor.partition(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise _bad_cursor() from None
        if not dot or not hmac.compare_digest(given, self._mac(scope, payload)):
            raise _bad_cursor()
        try:
            return msgspec.json.decode(payload, type=kind)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise _bad_cursor() from None

    def _mac(self, scope: bytes, payload: bytes) -> bytes:
        # The scope is JSON, which holds no raw newline: the joined message is unambiguous.
        return hmac.new(self._key, scope + b"\n" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def scope_of(*parts: object) -> bytes:
    """The list a cursor belongs to: its name, tenant and filter values."""
    return _encoder.encode(parts)


class Pager[K: SortKey]:
    """One list request's paging: the page to read and, once read, the next cursor.

    ``scope`` names the list (e.g. ``"devices", tenant_id``) and every filter that shapes
    it, so a cursor is refused by another list, another tenant or other filters.

    :raises Invalid: (422, field ``cursor``) for a cursor this list did not issue.
    """

    def __init__(self, paging: Paging, kind: type[K], *scope: object) -> None:
        self._cursors = _cursors(container().settings.auth.jwt_secret)
        self._scope = scope_of(*scope)
        after = (
            None if paging.cursor is None else self._cursors.open(self._scope, paging.cursor, kind)
        )
        self.request: PageRequest[K] = PageRequest(limit=paging.limit, after=after)

    def next_cursor(self, page: Page[Any, K]) -> str | None:
        """The cursor of the page after ``page`` (``None``: it was the last)."""
        return self.cursor_after(page.next)

    def cursor_after(self, key: K | None) -> str | None:
        return None if key is None else self._cursors.seal(self._scope, key)


@lru_cache(maxsize=4)
def _cursors(secret: str) -> Cursors:
    return Cursors(secret)


def _bad_cursor() -> Invalid:
    return Invalid(
        "not a cursor of this list: pass back a next_cursor unchanged, with the same"
        " filters, or omit it to start from the first page",
        field="cursor",
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    padded = (text + "=" * (-len(text) % 4)).encode()
    return base64.b64decode(padded, altchars=b"-_", validate=True)
