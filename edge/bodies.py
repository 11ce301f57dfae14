"""Request bodies whose size limit is set per route and counted over every byte received.

Quart sizes a request's body buffer when the request object is created, from the app's
``MAX_CONTENT_LENGTH``, before routing; and it counts only the bytes *buffered*, so a body
read in a streaming loop (an upload) is never cut off by it. :class:`LimitedBody` starts
with the largest limit any route has (so nothing is refused before the route is known),
counts every byte that arrives, and takes the route's own limit from
``before_request`` (:meth:`LimitedBody.limit_to`): bytes beyond it end the body with 413,
whether they are buffered, streamed, announced or chunked.
"""

from __future__ import annotations

from quart.wrappers.request import Body, Request
from werkzeug.exceptions import RequestEntityTooLarge


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
