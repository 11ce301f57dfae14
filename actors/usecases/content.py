"""Content: create, edit, upload media, and move items through the approval lifecycle.

The rules are the pure state machine's (:mod:`actors.domain.content_lifecycle`); this
module orders the effects. Every change locks the item's row, applies the transition,
writes the revision and the audit entry in one transaction. Approving or archiving
content that playlists play changes what screens show: after commit, the manifests of
the devices whose schedules play those playlists are refreshed (off the request path).

Four eyes: approval needs ``content.approve`` *and* a different user than the submitter
(403 otherwise); everything the state forbids is 409.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

import msgspec
from msgspec import UNSET, UnsetType

from actors.domain import content_lifecycle as lifecycle
from actors.domain.content_items import (
    AuditedRevision,
    ContentItem,
    ContentView,
    Metadata,
    RevisionRecord,
)
from actors.domain.content_lifecycle import (
    REASON_MAX_CHARS,
    ContentAction,
    ContentState,
    Transition,
)
from actors.domain.content_types import (
    BODY_MAX_CHARS,
    BODY_PATTERN,
    MEDIA_KINDS,
    NAME_MAX_CHARS,
    ContentKind,
    ContentRevision,
    validate_revision,
)
from actors.domain.manifest_batch import DeviceScope
from actors.domain.media_types import accepted_for, normalize_declared, sniff
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.schedule_types import Instant
from actors.domain.wall_clock import to_utc
from actors.domain.webhook_events import ContentPendingData
from actors.domain.webhooks import EventType
from actors.errors import Conflict, Invalid, NotFound, TooLarge, UnsupportedMedia
from actors.pagination import ByCreation, BySeq, Page, PageRequest, Paging
from actors.ports.content import MediaStore, MediaUpload
from actors.ports.manifests import ManifestRefresh
from actors.ports.uow import Tx, UnitOfWork
from actors.settings import Settings
from actors.usecases.content_limits import ContentLimits, check_playlist_bodies
from actors.usecases.manifests import ManifestSizeGuard
from actors.usecases.webhooks import notify_in

#: Declared types that claim nothing: the bytes alone decide.
_UNSPECIFIC_TYPES = frozenset({"application/octet-stream"})


#: Names are one line of visible text; bodies printable text with tabs and line breaks.
ContentName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=NAME_MAX_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
]
ContentBody = Annotated[str, msgspec.Meta(max_length=BODY_MAX_CHARS, pattern=BODY_PATTERN)]


class CreateContent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: ContentName
    kind: ContentKind
    duration_s: int
    uri: str | None = None
    body: ContentBody | None = None
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class EditContent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Each field present is changed (``null`` clears an optional one). Changing what
    screens would play makes a new revision when the working one was approved or
    rejected; ``metadata`` alone never does."""

    name: ContentName | UnsetType = UNSET
    duration_s: int | UnsetType = UNSET
    uri: str | UnsetType | None = UNSET
    body: ContentBody | UnsetType | None = UNSET
    valid_from: Instant | UnsetType | None = UNSET
    valid_until: Instant | UnsetType | None = UNSET
    metadata: Metadata | UnsetType = UNSET


class RejectContent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[
        str, msgspec.Meta(min_length=1, max_length=REASON_MAX_CHARS, pattern=r"^[^\x00]*$")
    ]


class ContentQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../content?state=&limit=&cursor=``: newest first."""

    state: ContentState | None = None
    #: Deprecated (use ``cursor``): rows skipped before the page; not with ``cursor``.
    offset: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Deprecated: follow next_cursor instead. Not with cursor.",
            extra_json_schema={"deprecated": True},
        ),
    ] = 0


class ContentList(msgspec.Struct, frozen=True):
    items: list[ContentView]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class RevisionQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../content/{id}/revisions?limit=&cursor=``: newest first."""


class RevisionList(msgspec.Struct, frozen=True):
    items: list[RevisionRecord]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class StoredMedia(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to an upload: the file as stored, and the revision that names it."""

    sha256: str
    size: int
    media_type: str
    revision: int
    state: ContentState


class Content:
    def __init__(
        self,
        uow: UnitOfWork,
        media: MediaStore,
        refresh: ManifestRefresh,
        settings: Settings,
    ) -> None:
        self._uow = uow
        self._media = media
        self._refresh = refresh
        self._max_upload = settings.content.max_upload_bytes
        self._limits = ContentLimits.from_settings(settings.content)
        self._manifest_sizes = ManifestSizeGuard.from_settings(settings)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, who: Principal, tenant_id: UUID, content_id: UUID) -> ContentView:
        authorize(who, Permission.CONTENT_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            return ContentView.of(await _item(tx, tenant_id, content_id))

    async def list(
        self,
        who: Principal,
        tenant_id: UUID,
        query: ContentQuery,
        page: PageRequest[ByCreation],
    ) -> Page[ContentView, ByCreation]:
        """One page of the tenant's content, newest first, optionally in one state.

        :raises Invalid: if ``offset`` (deprecated) comes with a cursor.
        """
        authorize(who, Permission.CONTENT_READ, tenant_id)
        if query.offset and page.after is not None:
            raise Invalid("offset cannot be combined with cursor: drop offset", field="offset")
        async with self._uow.tenant(tenant_id) as tx:
            rows = await tx.content.page(tenant_id, page, state=query.state, offset=query.offset)
        found = page.page(rows, lambda item: ByCreation(item.created_at, item.id))
        return found.map(ContentView.of)

    async def revisions(
        self, who: Principal, tenant_id: UUID, content_id: UUID, page: PageRequest[BySeq]
    ) -> Page[RevisionRecord, BySeq]:
        """One page of a content item's revisions, newest first."""
        authorize(who, Permission.CONTENT_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            await _item(tx, tenant_id, content_id)
            rows = await tx.content.revisions(tenant_id, content_id, page)
        return page.page(rows, lambda revision: BySeq(revision.number))

    # -- editing ---------------------------------------------------------------------------

    async def create(self, who: Principal, tenant_id: UUID, cmd: CreateContent) -> ContentView:
        """A new draft (revision 1).

        :raises Invalid: (422) naming the field that breaks the kind's rules.
        :raises Conflict: (409) if the tenant already keeps ``CONTENT_MAX_ITEMS`` items
            that are not archived.
        """
        authorize(who, Permission.CONTENT_EDIT, tenant_id)
        revision = ContentRevision(
            number=1,
            kind=cmd.kind,
            name=cmd.name,
            duration_s=cmd.duration_s,
            valid_from=_utc(cmd.valid_from, "valid_from"),
            valid_until=_utc(cmd.valid_until, "valid_until"),
            uri=cmd.uri,
            body=cmd.body,
        )
        validate_revision(revision)
        created = lifecycle.create(who.user_id)
        draft = ContentItem(
            id=uuid4(),
            tenant_id=tenant_id,
            lifecycle=created.lifecycle,
            working=revision,
            media_size=None,
            metadata=dict(cmd.metadata),
            reason=None,
            created_by=who.user_id,
            created_at=_UNSAVED,
            updated_at=_UNSAVED,
        )
        async with self._uow.tenant(tenant_id) as tx:
            await tx.content.lock_quotas(tenant_id)
            held = await tx.content.count_live(tenant_id)
            if held >= self._limits.max_items:
                raise Conflict(
                    f"the tenant keeps {held} content items that are not archived, its limit"
                    f" (CONTENT_MAX_ITEMS = {self._limits.max_items}): archive some first"
                )
            item = await tx.content.create(draft)
            await tx.audit.append(
                tenant_id,
                who,
                ContentAction.CREATE.value,
                target=item.ref,
                after=AuditedRevision.of(revision),
                details={"transition": created.event, "metadata": item.metadata},
            )
        return ContentView.of(item)

    async def edit(
        self, who: Principal, tenant_id: UUID, content_id: UUID, cmd: EditContent
    ) -> ContentView:
        """Change fields; a change of what screens play on approved or rejected content
        starts a new draft revision (the approved one keeps playing).

        :raises Conflict: (409) while a review is pending, or once archived.
        :raises Invalid: (422) naming the field that breaks the kind's rules.
        """
        authorize(who, Permission.CONTENT_EDIT, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            item = await _item(tx, tenant_id, content_id, for_update=True)
            changed = _edited(item.working, cmd)
            details: dict[str, object] = {}
            after = item
            if changed != item.working:
                transition = lifecycle.edit(item.lifecycle, who.user_id)
                after = await _write_revision(tx, item, transition, changed, who, item.media_size)
                details["transition"] = transition.event
            if not isinstance(cmd.metadata, UnsetType) and cmd.metadata != item.metadata:
                await tx.content.save_metadata(tenant_id, content_id, cmd.metadata)
                after = msgspec.structs.replace(after, metadata=dict(cmd.metadata))
                details["metadata"] = {"before": item.metadata, "after": after.metadata}
            if not details:
                return ContentView.of(item)
            await tx.audit.append(
                tenant_id,
                who,
                ContentAction.EDIT.value,
                target=item.ref,
                before=AuditedRevision.of(item.working),
                after=AuditedRevision.of(after.working),
                details=details,
            )
            fresh = await _item(tx, tenant_id, content_id)
        return ContentView.of(fresh)

    async def upload(
        self,
        who: Principal,
        tenant_id: UUID,
        content_id: UUID,
        declared_type: str | None,
        chunks: AsyncIterable[bytes],
    ) -> StoredMedia:
        """Store the uploaded file as the media of the working revision (a new revision
        for approved or rejected content), after checking it by its first bytes.

        :raises UnsupportedMedia: (415) for a kind without media, bytes of no accepted
            format for the kind, or a declared type the bytes contradict.
        :raises TooLarge: (413) past ``MAX_UPLOAD_BYTES``, or past what is left of the
            tenant's ``MEDIA_QUOTA_BYTES``.
        :raises Conflict: (409) while a review is pending, or once archived.
        """
        authorize(who, Permission.CONTENT_EDIT, tenant_id)
        declared = normalize_declared(declared_type)
        # Refuse before reading a byte when the state or the kind already says no.
        async with self._uow.tenant(tenant_id) as tx:
            item = await _item(tx, tenant_id, content_id)
            used, _ = await tx.content.media_usage(tenant_id)
        lifecycle.edit(item.lifecycle, who.user_id)
        accepted = accepted_for(item.kind)
        if not accepted:
            raise UnsupportedMedia(f"{item.kind} content takes no media upload")
        check = _head_check(item.kind, accepted, declared)
        if used >= self._limits.media_quota_bytes:  # nothing fits: refuse before reading
            raise self._over_quota(used)
        # Up to MAX_UPLOAD_BYTES are received whatever room is left: only the hash says
        # whether the file is new (the tenant's same bytes again cost nothing); the
        # quota is checked once it is known, under the tenant's quota lock.
        received = self._media.receive(tenant_id, chunks, limit=self._max_upload, check_head=check)
        async with received as upload:
            return await self._store_upload(who, tenant_id, content_id, upload, check(upload.head))

    def _over_quota(self, used: int) -> TooLarge:
        return TooLarge(
            f"the tenant's media files take {used} bytes of its quota of"
            f" {self._limits.media_quota_bytes} bytes (MEDIA_QUOTA_BYTES): this upload"
            " does not fit"
        )

    async def _store_upload(
        self,
        who: Principal,
        tenant_id: UUID,
        content_id: UUID,
        upload: MediaUpload,
        media_type: str,
    ) -> StoredMedia:
        async with self._uow.tenant(tenant_id) as tx:
            # Under the quota lock: a concurrent upload cannot take the same room.
            await tx.content.lock_quotas(tenant_id)
            used, stored = await tx.content.media_usage(tenant_id, upload.sha256)
            if not stored and used + upload.size > self._limits.media_quota_bytes:
                raise self._over_quota(used)
            item = await _item(tx, tenant_id, content_id, for_update=True)
            transition = lifecycle.edit(item.lifecycle, who.user_id)
            revision = msgspec.structs.replace(
                item.working,
                uri=None,
                media_sha256=upload.sha256,
                media_type=media_type,
            )
            after = await _write_revision(tx, item, transition, revision, who, upload.size)
            # Into place before commit: a committed revision never names a missing
            # file (a failed commit leaves an unreferenced, harmless one).
            await upload.publish()
            await tx.audit.append(
                tenant_id,
                who,
                "content.upload",
                target=item.ref,
                before=AuditedRevision.of(item.working),
                after=AuditedRevision.of(revision),
                details={"transition": transition.event, "size": upload.size},
            )
        return StoredMedia(
            sha256=upload.sha256,
            size=upload.size,
            media_type=media_type,
            revision=after.lifecycle.revision,
            state=after.lifecycle.state,
        )

    # -- the lifecycle ---------------------------------------------------------------------

    async def submit(self, who: Principal, tenant_id: UUID, content_id: UUID) -> ContentView:
        return await self._move(
            who,
            tenant_id,
            content_id,
            Permission.CONTENT_EDIT,
            lambda item: lifecycle.submit(item.lifecycle, who.user_id, item.working),
        )

    async def withdraw(self, who: Principal, tenant_id: UUID, content_id: UUID) -> ContentView:
        return await self._move(
            who,
            tenant_id,
            content_id,
            Permission.CONTENT_EDIT,
            lambda item: lifecycle.withdraw(item.lifecycle, who.user_id),
        )

    async def approve(self, who: Principal, tenant_id: UUID, content_id: UUID) -> ContentView:
        """:raises Forbidden: (403) for the submitter themself (four eyes)."""
        return await self._move(
            who,
            tenant_id,
            content_id,
            Permission.CONTENT_APPROVE,
            lambda item: lifecycle.approve(item.lifecycle, who.user_id),
        )

    async def reject(
        self, who: Principal, tenant_id: UUID, content_id: UUID, cmd: RejectContent
    ) -> ContentView:
        return await self._move(
            who,
            tenant_id,
            content_id,
            Permission.CONTENT_APPROVE,
            lambda item: lifecycle.reject(item.lifecycle, who.user_id, cmd.reason),
        )

    async def archive(self, who: Principal, tenant_id: UUID, content_id: UUID) -> ContentView:
        return await self._move(
            who,
            tenant_id,
            content_id,
            Permission.CONTENT_EDIT,
            lambda item: lifecycle.archive(item.lifecycle, who.user_id),
        )

    async def _check_growth(
        self, tx: Tx, tenant_id: UUID, content_id: UUID, scope: DeviceScope
    ) -> None:
        """A newly live revision must keep every playlist that plays it, and every
        manifest it reaches, within their limits.

        :raises Conflict: (409) naming the limit it would pass.
        """
        playlists = await tx.playlists.containing(tenant_id, content_id)
        await check_playlist_bodies(
            tx, tenant_id, playlists, self._limits.playlist_max_body_bytes, field=None
        )
        await self._manifest_sizes.check(tx, tenant_id, scope)

    async def _move(
        self,
        who: Principal,
        tenant_id: UUID,
        content_id: UUID,
        permission: Permission,
        step: Callable[[ContentItem], Transition],
    ) -> ContentView:
        """Apply one lifecycle transition under the item's lock, with its audit entry;
        refresh the manifests it changes after commit.

        :raises Conflict: (409) when the state forbids the transition.
        """
        authorize(who, permission, tenant_id)
        scope = DeviceScope()
        async with self._uow.tenant(tenant_id) as tx:
            item = await _item(tx, tenant_id, content_id, for_update=True)
            transition = step(item)
            event = transition.event
            await tx.content.save_lifecycle(tenant_id, content_id, transition.lifecycle)
            number = item.lifecycle.revision
            if event.action == ContentAction.SUBMIT:
                await tx.content.record_submission(tenant_id, content_id, number, who.user_id)
                await notify_in(
                    tx,
                    tenant_id,
                    EventType.CONTENT_PENDING_APPROVAL,
                    ContentPendingData(
                        content_id=content_id,
                        name=item.working.name,
                        kind=item.working.kind,
                        revision=number,
                        submitted_by=who.actor.ref,
                    ),
                    datetime.now(UTC),
                )
            elif event.action == ContentAction.WITHDRAW:
                await tx.content.record_submission(tenant_id, content_id, number, None)
            elif event.action in (ContentAction.APPROVE, ContentAction.REJECT):
                await tx.content.record_decision(
                    tenant_id,
                    content_id,
                    number,
                    decision="approved" if event.action == ContentAction.APPROVE else "rejected",
                    decided_by=who.user_id,
                    reason=event.reason,
                )
            if event.live_revision_before != event.live_revision_after:
                scope = await _playing_scope(tx, tenant_id, content_id)
                if event.action == ContentAction.APPROVE:  # what plays may grow
                    await self._check_growth(tx, tenant_id, content_id, scope)
            await tx.audit.append(
                tenant_id, who, event.action.value, target=item.ref, details={"transition": event}
            )
            fresh = await _item(tx, tenant_id, content_id)
        self._refresh.refresh(tenant_id, scope)  # an empty scope is nothing to do
        return ContentView.of(fresh)


#: ``created_at``/``updated_at`` of an item not inserted yet (the store sets both).
_UNSAVED = datetime.fromtimestamp(0, UTC)


async def _item(
    tx: Tx, tenant_id: UUID, content_id: UUID, *, for_update: bool = False
) -> ContentItem:
    item = await tx.content.get(tenant_id, content_id, for_update=for_update)
    if item is None:
        raise NotFound("no such content")
    return item


def _edited(working: ContentRevision, cmd: EditContent) -> ContentRevision:
    """``working`` with the command's fields applied (same number)."""
    changes: dict[str, object] = {}
    for name in ("name", "duration_s", "valid_from", "valid_until", "body"):
        value = getattr(cmd, name)
        if not isinstance(value, UnsetType):
            changes[name] = _utc(value, name) if isinstance(value, datetime) else value
    if not isinstance(cmd.uri, UnsetType):
        changes["uri"] = cmd.uri
        if cmd.uri is not None and working.kind in MEDIA_KINDS:
            # An external address replaces an uploaded file.
            changes.update(media_sha256=None, media_type=None)
    return msgspec.structs.replace(working, **changes) if changes else working


def _utc(instant: datetime | None, field: str) -> datetime | None:
    """Instants are stored and shown in UTC (API.md), whatever offset they came with.

    :raises Invalid: (422, naming ``field``) for an instant outside years 1 to 9999 in UTC.
    """
    return None if instant is None else to_utc(instant, field)


async def _write_revision(
    tx: Tx,
    item: ContentItem,
    transition: Transition,
    revision: ContentRevision,
    who: Principal,
    media_size: int | None,
) -> ContentItem:
    """Write ``revision`` as the working one: in place for a draft, as the next number
    otherwise (``transition`` is the edit's)."""
    number = transition.lifecycle.revision
    revision = msgspec.structs.replace(revision, number=number)
    validate_revision(revision)
    size = media_size if revision.media_sha256 is not None else None
    await tx.content.write_revision(
        item.tenant_id,
        item.id,
        revision,
        author=who.user_id,
        media_size=size,
        new=number != item.lifecycle.revision,
    )
    await tx.content.save_lifecycle(item.tenant_id, item.id, transition.lifecycle)
    return msgspec.structs.replace(
        item, lifecycle=transition.lifecycle, working=revision, media_size=size, reason=None
    )


def _head_check(
    kind: ContentKind, accepted: frozenset[str], declared: str | None
) -> Callable[[bytes], str]:
    def check(head: bytes) -> str:
        found = sniff(head)
        if found is None or found not in accepted:
            allowed = ", ".join(sorted(accepted))
            raise UnsupportedMedia(
                f"the bytes are not a {kind} file of an accepted type ({allowed})"
            )
        if declared is not None and declared not in _UNSPECIFIC_TYPES and declared != found:
            raise UnsupportedMedia(f"declared {declared}, but the bytes are {found}")
        return found

    return check


async def _playing_scope(tx: Tx, tenant_id: UUID, content_id: UUID) -> DeviceScope:
    """The devices whose schedules play a playlist listing ``content_id``."""
    playlists = await tx.playlists.containing(tenant_id, content_id)
    targets = await tx.schedules.targets_of_playlists(tenant_id, playlists)
    return DeviceScope.reached_by(targets, max_named=_MAX_NAMED)


_MAX_NAMED = 1024
"""Named groups and devices a refresh scope holds before it becomes "every device"."""
