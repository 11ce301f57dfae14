"""Request bodies: a size limit set per route and counted over every byte received, and
one reading of every JSON body (no key repeated within an object).

Quart sizes a request's body buffer when the request object is created, from the app's
``MAX_CONTENT_LENGTH``, before routing; and it counts only the bytes *buffered*, so a body
read in a streaming loop (an upload) is never cut off by it. :class:`LimitedBody` starts
with the largest limit any route has (so nothing is refused before the route is known),
counts every byte that arrives, and takes the route's own limit from
``before_request`` (:meth:`LimitedBody.limit_to`): bytes beyond it end the body with 413,
whether they are buffered, streamed, announced or chunked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from quart.wrappers.request import Body, Request
from werkzeug.exceptions import RequestEntityTooLarge

from actors.errors import Invalid


class LimitedBody(Body):
    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        # The base class's own (buffered-bytes) check is replaced by the count below.
        super().__init__(expected_content_length, None)
        self._expected = expected_content_length
        self._limit = max_content_length
        self._received = 0
        self._check()

    def limit_to(self, limit: int | None) -> None:
        """Apply the route's limit to what arrived and what will."""
        self._limit = limit
        self._check()

    def append(self, data: bytes) -> None:
        if self._must_raise is None and data:
            self._received += len(data)
            if self._check():
                return
        super().append(data)

    def _check(self) -> bool:
        """Refuse the body if it is (or is announced to be) over the limit."""
        limit = self._limit
        if limit is None or self._must_raise is not None:
            return self._must_raise is not None
        if self._received > limit or (self._expected is not None and self._expected > limit):
            # Raised to the handler on its next read (Quart's own protocol for this).
            self._must_raise = RequestEntityTooLarge(f"the body exceeds {limit} bytes")
            self._data.clear()
            self.set_complete()
            return True
        return False


class LimitedRequest(Request):
    body_class = LimitedBody


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_pairs(pairs: Sequence[tuple[str, object]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)


def _ignored(_: str) -> None:
    return None


def refuse_duplicate_keys(raw: bytes | str) -> None:
    """Refuse a JSON document in which one object names a key twice.

    msgspec (like most parsers) keeps the last of duplicate keys silently, so two parsers
    on one path (a proxy, an audit reader, this server) could each see a different body
    (RFC 8259 section 4: names SHOULD be unique). Call it on a body that already decoded:
    values are not built, only keys compared.

    :raises Invalid: (422) naming the repeated key.
    """
    try:
        json.loads(
            raw,
            object_pairs_hook=_unique_pairs,
            parse_int=_ignored,
            parse_float=_ignored,
            parse_constant=_ignored,
        )
    except _DuplicateKey as exc:
        raise Invalid(f"the key {exc.key!r} appears twice in one object", field=exc.key) from None
    except RecursionError:
        raise Invalid("the body is nested too deeply") from None
    except ValueError as exc:  # not JSON after all: the caller's decoder said it was
        raise Invalid(f"the body is not valid JSON: {exc}") from None
