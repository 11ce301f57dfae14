"""Content items as stored and as admins see them.

A :class:`ContentItem` is one item's lifecycle (:mod:`actors.domain.content_lifecycle`)
together with its *working* revision (the newest: a draft, under review, approved,
rejected or archived) and the editors' descriptive metadata. Screens never see either of
these types: they get manifests, planned from live revisions only.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.content_lifecycle import ContentLifecycle, ContentState
from actors.domain.content_types import ContentKind, ContentRevision

METADATA_MAX_KEYS = 32
MetadataKey = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
MetadataValue = Annotated[str, msgspec.Meta(max_length=1024, pattern=r"^[^\x00]*$")]
Metadata = Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=METADATA_MAX_KEYS)]
"""Free-form descriptive pairs (campaign, owner, notes): never sent to screens, so
changing them is not a change of what plays and needs no approval."""


class ContentItem(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    tenant_id: UUID
    lifecycle: ContentLifecycle
    working: ContentRevision
    #: Bytes of the working revision's uploaded file, if it has one.
    media_size: int | None
    metadata: dict[str, str]
    #: Why the working revision was rejected (state ``rejected`` only).
    reason: str | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"content:{self.id}"

    @property
    def kind(self) -> ContentKind:
        return self.working.kind


class ContentView(msgspec.Struct, frozen=True, kw_only=True):
    """What admins see (API.md): the working revision's fields and where it stands.

    ``live_revision`` is the revision screens play (``None``: none approved); it may be
    older than ``revision`` while a newer one is edited or reviewed.
    """

    id: UUID
    kind: ContentKind
    name: str
    state: ContentState
    revision: int
    live_revision: int | None
    duration_s: int
    valid_from: datetime | None
    valid_until: datetime | None
    uri: str | None
    body: str | None
    media_sha256: str | None
    media_type: str | None
    media_size: int | None
    metadata: dict[str, str]
    submitted_by: UUID | None
    rejection_reason: str | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, item: ContentItem) -> ContentView:
        working = item.working
        lifecycle = item.lifecycle
        return cls(
            id=item.id,
            kind=working.kind,
            name=working.name,
            state=lifecycle.state,
            revision=lifecycle.revision,
            live_revision=lifecycle.live_revision,
            duration_s=working.duration_s,
            valid_from=working.valid_from,
            valid_until=working.valid_until,
            uri=working.uri,
            body=working.body,
            media_sha256=working.media_sha256,
            media_type=working.media_type,
            media_size=item.media_size,
            metadata=item.metadata,
            submitted_by=lifecycle.submitted_by,
            rejection_reason=item.reason if lifecycle.state == ContentState.REJECTED else None,
            created_by=item.created_by,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


class RevisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One revision's history: what it held (body summarised) and how its review ended."""

    number: int
    name: str
    duration_s: int
    valid_from: datetime | None
    valid_until: datetime | None
    uri: str | None
    body_chars: int | None
    media_sha256: str | None
    media_type: str | None
    created_by: UUID
    created_at: datetime
    submitted_by: UUID | None
    submitted_at: datetime | None
    decision: str | None
    decided_by: UUID | None
    decided_at: datetime | None
    reason: str | None


class AuditedRevision(msgspec.Struct, frozen=True, kw_only=True):
    """A revision as audit entries record it: the body by its size and SHA-256 (the full
    text stays in the revision history), never the body itself."""

    number: int
    kind: ContentKind
    name: str
    duration_s: int
    valid_from: datetime | None
    valid_until: datetime | None
    uri: str | None
    body_chars: int | None
    body_sha256: str | None
    media_sha256: str | None
    media_type: str | None

    @classmethod
    def of(cls, revision: ContentRevision) -> AuditedRevision:
        body = revision.body
        return cls(
            number=revision.number,
            kind=revision.kind,
            name=revision.name,
            duration_s=revision.duration_s,
            valid_from=revision.valid_from,
            valid_until=revision.valid_until,
            uri=revision.uri,
            body_chars=None if body is None else len(body),
            body_sha256=None if body is None else hashlib.sha256(body.encode()).hexdigest(),
            media_sha256=revision.media_sha256,
            media_type=revision.media_type,
        )
