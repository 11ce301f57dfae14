"""Content, playlists, schedules and the media store."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from actors.domain.content_items import ContentItem, RevisionRecord
from actors.domain.content_lifecycle import ContentLifecycle, ContentState
from actors.domain.content_types import ContentRevision
from actors.domain.manifest_plan import ContentSnapshot, Playlist, PlaylistItem
from actors.domain.playlists import PlaylistRecord
from actors.domain.schedule_types import ScheduleEntry
from actors.domain.schedules import ScheduleRecord
from actors.domain.targets import Target
from actors.pagination import ByCreation, ByName, BySeq, PageRequest


class ContentRepository(Protocol):
    async def create(self, item: ContentItem) -> ContentItem:
        """Insert the item and its revision 1 (the working one)."""
        ...

    async def get(
        self, tenant_id: UUID, content_id: UUID, *, for_update: bool = False
    ) -> ContentItem | None:
        """The item with its working revision; ``for_update`` locks it until the
        transaction ends (every lifecycle change holds that lock)."""
        ...

    async def page(
        self,
        tenant_id: UUID,
        page: PageRequest[ByCreation],
        *,
        state: ContentState | None,
        offset: int = 0,
    ) -> builtins.list[ContentItem]:
        """Up to ``page.fetch`` items after ``page.after`` (skipping ``offset`` more),
        newest first."""
        ...

    async def save_lifecycle(
        self, tenant_id: UUID, content_id: UUID, lifecycle: ContentLifecycle
    ) -> None: ...

    async def save_metadata(
        self, tenant_id: UUID, content_id: UUID, metadata: Mapping[str, str]
    ) -> None: ...

    async def write_revision(
        self,
        tenant_id: UUID,
        content_id: UUID,
        revision: ContentRevision,
        *,
        author: UUID,
        media_size: int | None,
        new: bool,
    ) -> None:
        """Insert ``revision`` (``new``) or overwrite the working draft of that number."""
        ...

    async def record_submission(
        self, tenant_id: UUID, content_id: UUID, number: int, submitted_by: UUID | None
    ) -> None:
        """Stamp (or, with ``None``, clear on withdrawal) who submitted revision ``number``."""
        ...

    async def record_decision(
        self,
        tenant_id: UUID,
        content_id: UUID,
        number: int,
        *,
        decision: str,
        decided_by: UUID,
        reason: str | None,
    ) -> None: ...

    async def revisions(
        self, tenant_id: UUID, content_id: UUID, page: PageRequest[BySeq]
    ) -> builtins.list[RevisionRecord]:
        """Up to ``page.fetch`` revisions after ``page.after``, newest first."""
        ...

    async def lifecycles(
        self, tenant_id: UUID, content_ids: Collection[UUID]
    ) -> dict[UUID, ContentLifecycle]:
        """The lifecycle of each of ``content_ids`` that exists in the tenant."""
        ...

    async def snapshots(
        self, tenant_id: UUID, content_ids: Collection[UUID]
    ) -> dict[UUID, ContentSnapshot]:
        """What the manifest planner needs of each item: lifecycle and live revision."""
        ...

    async def lock_quotas(self, tenant_id: UUID) -> None:
        """Order the tenant's quota checks until the transaction ends (advisory lock):
        count, compare and write with it held."""
        ...

    async def count_live(self, tenant_id: UUID) -> int:
        """The tenant's content items that are not archived."""
        ...

    async def media_usage(self, tenant_id: UUID, sha256: str | None = None) -> tuple[int, bool]:
        """Bytes of the tenant's distinct uploaded files that revisions name, and whether
        one of them is ``sha256`` (stored once: uploading it again costs nothing)."""
        ...

    async def playlist_body_bytes(
        self, tenant_id: UUID, playlist_ids: Collection[UUID]
    ) -> dict[UUID, int]:
        """UTF-8 bytes of the live text/HTML bodies each playlist plays (each item once;
        playlists with none are absent)."""
        ...


class PlaylistRepository(Protocol):
    async def create(
        self,
        tenant_id: UUID,
        playlist_id: UUID,
        *,
        name: str,
        items: Sequence[PlaylistItem],
        created_by: UUID,
    ) -> PlaylistRecord: ...

    async def get(
        self, tenant_id: UUID, playlist_id: UUID, *, for_update: bool = False
    ) -> PlaylistRecord | None: ...

    async def list(self, tenant_id: UUID) -> list[PlaylistRecord]: ...

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByName]
    ) -> builtins.list[PlaylistRecord]:
        """Up to ``page.fetch`` playlists after ``page.after``, by name then id."""
        ...

    async def replace(
        self, tenant_id: UUID, playlist_id: UUID, *, name: str, items: Sequence[PlaylistItem]
    ) -> PlaylistRecord:
        """:raises NotFound: if there is no such playlist in ``tenant_id``."""
        ...

    async def delete(self, tenant_id: UUID, playlist_id: UUID) -> None:
        """:raises Conflict: if a schedule still names it."""
        ...

    async def for_planning(
        self, tenant_id: UUID, playlist_ids: Collection[UUID]
    ) -> dict[UUID, Playlist]: ...

    async def containing(self, tenant_id: UUID, content_id: UUID) -> builtins.list[UUID]:
        """The playlists that list ``content_id``."""
        ...


class ScheduleRepository(Protocol):
    async def create(
        self, tenant_id: UUID, entry: ScheduleEntry, *, created_by: UUID
    ) -> ScheduleRecord:
        """Insert ``entry``; ``created_at`` is the database's clock (the stored record's)."""
        ...

    async def get(self, tenant_id: UUID, schedule_id: UUID) -> ScheduleRecord | None: ...

    async def list(self, tenant_id: UUID) -> list[ScheduleRecord]: ...

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByCreation]
    ) -> builtins.list[ScheduleRecord]:
        """Up to ``page.fetch`` entries after ``page.after``, oldest first."""
        ...

    async def delete(self, tenant_id: UUID, schedule_id: UUID) -> ScheduleRecord | None:
        """Delete and return the entry (``None``: there was none)."""
        ...

    async def entries(self, tenant_id: UUID) -> builtins.list[ScheduleEntry]:
        """Every entry of the tenant, for resolution."""
        ...

    async def targets_of_playlists(
        self, tenant_id: UUID, playlist_ids: Collection[UUID]
    ) -> builtins.list[Target]:
        """The targets of the entries that play any of ``playlist_ids``."""
        ...


class MediaUpload(Protocol):
    """A file received completely into a temporary place under its tenant's folder."""

    sha256: str
    size: int
    head: bytes

    async def publish(self) -> None:
        """Move the file to its final, content-addressed name (atomic; idempotent)."""
        ...


class MediaStore(Protocol):
    def receive(
        self,
        tenant_id: UUID,
        chunks: AsyncIterable[bytes],
        *,
        limit: int,
        check_head: Callable[[bytes], object],
    ) -> AbstractAsyncContextManager[MediaUpload]:
        """Stream ``chunks`` to a temporary file, hashing as it goes; ``check_head`` is
        called once with the first bytes and may raise to refuse the file early. Leaving
        the block without :meth:`MediaUpload.publish` removes the file, whatever ended it.

        :raises TooLarge: past ``limit`` bytes.
        :raises Unavailable: if the media folder cannot be written.
        """
        ...
