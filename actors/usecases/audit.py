"""Reading the audit trail: query, verify the hash chain, export as a stream.

``tenant_id=None`` everywhere means the platform chain. Long chains are read in pages of
:data:`PAGE_SIZE`, each in its own short transaction, so verifying or exporting millions
of entries holds no connection (nor any lock) for long and uses constant memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.audit import AuditEntry, ChainVerifier, VerifyReport
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import Invalid, NotFound
from actors.pagination import BySeq, Page, PageRequest, Paging
from actors.ports.uow import UnitOfWork

PAGE_SIZE = 1000

#: Called after each verified page with (entries verified so far, entries at the start).
Progress = Callable[[int, int], None]


class AuditQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """Filters of ``GET .../audit``; results are newest first, paged by ``cursor``."""

    #: Entries at or after this time.
    since: datetime | None = None
    #: Entries strictly before this time.
    until: datetime | None = None
    action: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    #: ``user:<uuid>``, a bare user id, ``system:<what>``, ``anonymous``, or an email.
    actor: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | None = None
    #: Deprecated (follow ``next_cursor``): entries with ``seq`` below this.
    before: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1,
                description="Deprecated: follow next_cursor instead. Entries with seq below.",
                extra_json_schema={"deprecated": True},
            ),
        ]
        | None
    ) = None


class AuditPage(msgspec.Struct, frozen=True):
    items: list[AuditEntry]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class AuditTrail:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def query(
        self, who: Principal, tenant_id: UUID | None, q: AuditQuery, page: PageRequest[BySeq]
    ) -> Page[AuditEntry, BySeq]:
        """One page of a chain's entries matching ``q``, newest first."""
        authorize(who, Permission.AUDIT_READ, tenant_id)
        for name, when in (("since", q.since), ("until", q.until)):
            if when is not None and when.tzinfo is None:
                raise Invalid("give a time zone (e.g. a trailing Z)", field=name)
        async with self._uow.scoped(tenant_id) as tx:
            if tenant_id is not None and await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            items = await tx.audit.query(
                tenant_id,
                since=q.since,
                until=q.until,
                action=q.action,
                actor=q.actor,
                before_seq=_before(q.before, page.after),
                limit=page.fetch,
            )
        return page.page(items, lambda entry: BySeq(entry.seq))

    async def verify(self, who: Principal, tenant_id: UUID | None) -> VerifyReport:
        """Recompute the chain; the report names the first broken entry, if any."""
        authorize(who, Permission.AUDIT_VERIFY, tenant_id)
        return await self.verify_chain(tenant_id)

    async def export(self, who: Principal, tenant_id: UUID | None) -> AsyncIterator[AuditEntry]:
        """Authorize now, then stream the chain in order (the caller encodes it).

        The stream reads page by page as it is consumed; entries appended meanwhile are
        included up to the moment the last page is read.
        """
        authorize(who, Permission.AUDIT_EXPORT, tenant_id)
        await self._require_chain(tenant_id)
        return self._entries(tenant_id)

    async def verify_chain(
        self, tenant_id: UUID | None, progress: Progress | None = None
    ) -> VerifyReport:
        """Verify a chain with no authorization check: for ``signage audit verify``
        (operators with database access) and for :meth:`verify`.

        :raises NotFound: if ``tenant_id`` names no tenant.
        """
        await self._require_chain(tenant_id)
        async with self._uow.scoped(tenant_id) as tx:
            total = await tx.audit.head_seq(tenant_id)
        verifier = ChainVerifier(tenant_id)
        async with aclosing(self._entries(tenant_id, progress=progress, total=total)) as entries:
            async for entry in entries:
                if not verifier.feed(entry):
                    break
        return verifier.report()

    async def _entries(
        self,
        tenant_id: UUID | None,
        *,
        progress: Progress | None = None,
        total: int = 0,
    ) -> AsyncGenerator[AuditEntry]:
        after, seen = 0, 0
        while True:
            async with self._uow.scoped(tenant_id) as tx:
                page = await tx.audit.page(tenant_id, after_seq=after, limit=PAGE_SIZE)
            for entry in page:
                yield entry
            seen += len(page)
            if progress is not None:
                progress(seen, max(total, seen))
            if len(page) < PAGE_SIZE:
                return
            after = page[-1].seq

    async def _require_chain(self, tenant_id: UUID | None) -> None:
        if tenant_id is None:
            return
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")


def _before(before: int | None, after: BySeq | None) -> int | None:
    """The ``seq`` bound of a newest-first page: the cursor's, or the deprecated
    ``before``, whichever is lower."""
    bounds = [seq for seq in (before, None if after is None else after.seq) if seq is not None]
    return min(bounds) if bounds else None
