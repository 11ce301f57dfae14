"""Keyset pagination: what a list use case is asked for and what it answers.

Every list of the API pages the same way. The client sends ``limit`` and, after the first
page, the ``cursor`` the previous page returned as ``next_cursor``; ``next_cursor`` is
``null`` on the last page. Inside, a cursor is the sort key of the last row of the page
before: the store reads ``limit + 1`` rows ordered by a unique key, after that key
(``WHERE (key) > (after)``), so a page costs the same wherever it starts and rows added or
removed meanwhile never shift the next page. The edge seals keys into opaque,
tamper-evident cursors (``edge/pagination.py``); the core never sees a cursor string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

#: Rows a page holds when the client names no ``limit``.
DEFAULT_LIMIT = 100
#: The largest ``limit`` a list accepts (unless it documents another bound).
MAX_LIMIT = 1000
#: Longer ``cursor`` values are refused before any decoding.
MAX_CURSOR_CHARS = 512

Limit = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=MAX_LIMIT,
        description=f"Rows per page (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}).",
    ),
]
Cursor = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_CURSOR_CHARS,
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
        description=(
            "Opaque: the previous page's `next_cursor`, passed back unchanged with the same "
            "filters. Omit it for the first page."
        ),
    ),
]


class Paging(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query parameters every list takes; a list's own query Struct extends it."""

    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


@dataclass(frozen=True)
class PageRequest[K]:
    """A page to read: at most ``limit`` rows after the key ``after`` (``None``: from
    the start). Stores read :attr:`fetch` rows, one more than the page, to learn whether
    a next page exists without a second query."""

    limit: int = DEFAULT_LIMIT
    after: K | None = None

    @property
    def fetch(self) -> int:
        return self.limit + 1

    def page[T](self, rows: Sequence[T], key: Callable[[T], K]) -> Page[T, K]:
        """The page of ``rows`` (read with ``LIMIT fetch``); ``next`` is the key of its
        last row when more rows follow, else ``None``."""
        if len(rows) <= self.limit:
            return Page(items=list(rows), next=None)
        items = list(rows[: self.limit])
        return Page(items=items, next=key(items[-1]))


@dataclass(frozen=True)
class Page[T, K]:
    """One page of rows and the key to resume after (``None``: this is the last page)."""

    items: list[T]
    next: K | None

    def map[U](self, convert: Callable[[T], U]) -> Page[U, K]:
        return Page(items=[convert(item) for item in self.items], next=self.next)


class SortKey(msgspec.Struct, frozen=True, array_like=True):
    """Base of the sort keys: a row's position in its list, sealed into cursors as a
    JSON array. Fields are the ``ORDER BY`` columns in order; the last one is unique."""


class ByName(SortKey, frozen=True, array_like=True):
    """Devices and playlists: by name, then id."""

    name: str
    id: UUID


class ByEmail(SortKey, frozen=True, array_like=True):
    """Users: by email (unique), then id."""

    email: str
    id: UUID


class ByCreation(SortKey, frozen=True, array_like=True):
    """Tenants and schedules (oldest first), content (newest first)."""

    created_at: datetime
    id: UUID


class BySeq(SortKey, frozen=True, array_like=True):
    """The audit trail, emergencies and a content item's revisions (newest first)."""

    seq: int


class ByStart(SortKey, frozen=True, array_like=True):
    """Cluster nodes, newest first."""

    started_at: datetime
    node_id: str


class ByActor(SortKey, frozen=True, array_like=True):
    """A node's actors: by kind, then id."""

    kind: str
    id: str
