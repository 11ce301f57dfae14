"""The content approval lifecycle as a pure state machine.

States of the *working* (newest) revision::

    draft ──submit──▶ pending_approval ──approve──▶ approved ──archive──▶ archived
      ▲                 │        │                     │
      └────withdraw─────┘        └──reject──▶ rejected │
      ▲                                         │      │
      └──────────── edit (new revision) ────────┴──────┘

- **Editing** a draft changes it in place. Editing a rejected or an approved revision
  starts a new draft revision: the rejected one stays on record as what was refused, the
  approved one **keeps playing** (``live_revision``) until its successor is approved.
- **Four eyes**: the approver must not be the submitter (:class:`~actors.errors.Forbidden`).
  Rejecting one's own submission is allowed: it can only keep content off screens; an
  editor who wants it back without a verdict uses *withdraw*.
- **Pending** revisions are frozen: withdraw before editing, so an approver never
  approves something other than what they reviewed.
- **Archive** takes approved content off every screen for good; it needs a live revision
  (never-approved content never reached a screen) and no review in progress. Archived
  content accepts no further transition.

Every transition returns a :class:`Transition`: the new :class:`ContentLifecycle` and a
:class:`LifecycleEvent` to store as the audit entry's details in the same transaction.
Illegal transitions raise :class:`~actors.errors.Conflict` (HTTP 409). Roles (editor,
approver) are checked by the caller; this module checks only what the state decides.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

import msgspec

from actors.domain.content_types import ContentRevision, ensure_ready_for_review
from actors.errors import Conflict, Forbidden, Invalid

REASON_MAX_CHARS = 2_000


class ContentState(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class ContentAction(StrEnum):
    """Audit action names, one per transition."""

    CREATE = "content.create"
    EDIT = "content.edit"
    SUBMIT = "content.submit"
    WITHDRAW = "content.withdraw"
    APPROVE = "content.approve"
    REJECT = "content.reject"
    ARCHIVE = "content.archive"


class ContentLifecycle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a content item stands.

    - ``state``: the state of the working revision ``revision`` (numbered from 1).
    - ``live_revision``: the approved revision screens may play, ``None`` if none
      (never approved yet, or archived).
    - ``submitted_by``: who submitted the working revision; set from submission on, so
      the decision's four-eyes check and audit know it.

    Inconsistent combinations are refused on construction and on decoding.
    """

    state: ContentState
    revision: int
    live_revision: int | None = None
    submitted_by: UUID | None = None

    def __post_init__(self) -> None:
        live = self.live_revision
        if self.revision < 1 or (live is not None and not 1 <= live <= self.revision):
            raise ValueError("revisions are numbered from 1; the live one is not newer")
        if (self.state == ContentState.APPROVED) != (live == self.revision):
            raise ValueError("the working revision is live exactly when it is approved")
        if self.state == ContentState.ARCHIVED and live is not None:
            raise ValueError("archived content has no live revision")
        reviewed = (ContentState.PENDING_APPROVAL, ContentState.APPROVED, ContentState.REJECTED)
        if self.state in reviewed and self.submitted_by is None:
            raise ValueError(f"a {self.state} revision records its submitter")


class LifecycleEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one transition did, for the audit entry (before and after in one record)."""

    action: ContentAction
    actor: UUID
    revision: int
    """The revision acted on (for an edit that starts a new revision: the new one)."""
    from_state: ContentState | None
    to_state: ContentState
    live_revision_before: int | None
    live_revision_after: int | None
    reason: str | None = None


class Transition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    lifecycle: ContentLifecycle
    event: LifecycleEvent


def create(author: UUID) -> Transition:
    """New content: revision 1, a draft."""
    lifecycle = ContentLifecycle(ContentState.DRAFT, revision=1)
    return Transition(
        lifecycle,
        LifecycleEvent(ContentAction.CREATE, author, 1, None, ContentState.DRAFT, None, None),
    )


def edit(lifecycle: ContentLifecycle, editor: UUID) -> Transition:
    """Record a change of the content's fields; the result says which revision to write.

    A draft is changed in place (same ``revision``); a rejected or approved revision is
    kept and a new draft revision ``revision + 1`` receives the change.

    :raises Conflict: while a review is pending, or once archived.
    """
    state = lifecycle.state
    if state == ContentState.DRAFT:
        return _move(lifecycle, ContentAction.EDIT, editor, lifecycle)
    if state in (ContentState.REJECTED, ContentState.APPROVED):
        successor = ContentLifecycle(
            ContentState.DRAFT, lifecycle.revision + 1, live_revision=lifecycle.live_revision
        )
        return _move(lifecycle, ContentAction.EDIT, editor, successor)
    if state == ContentState.PENDING_APPROVAL:
        raise Conflict("the content is pending approval: withdraw it before editing")
    raise Conflict("archived content cannot be edited")


def submit(lifecycle: ContentLifecycle, submitter: UUID, revision: ContentRevision) -> Transition:
    """Ask for approval of the working draft ``revision``.

    :raises Conflict: unless the working revision is a draft and ``revision`` is it, and
        complete enough to review (a media item has its file).
    """
    _require(lifecycle, ContentState.DRAFT, "submitted")
    if revision.number != lifecycle.revision:
        raise Conflict(f"revision {revision.number} is not the working revision")
    ensure_ready_for_review(revision)
    pending = ContentLifecycle(
        ContentState.PENDING_APPROVAL,
        lifecycle.revision,
        live_revision=lifecycle.live_revision,
        submitted_by=submitter,
    )
    return _move(lifecycle, ContentAction.SUBMIT, submitter, pending)


def withdraw(lifecycle: ContentLifecycle, editor: UUID) -> Transition:
    """Take a pending revision back to draft, without a verdict.

    :raises Conflict: unless a review is pending.
    """
    _require(lifecycle, ContentState.PENDING_APPROVAL, "withdrawn")
    draft = ContentLifecycle(ContentState.DRAFT, lifecycle.revision, lifecycle.live_revision)
    return _move(lifecycle, ContentAction.WITHDRAW, editor, draft)


def approve(lifecycle: ContentLifecycle, approver: UUID) -> Transition:
    """Approve the pending revision: it becomes the live one, replacing any earlier.

    :raises Conflict: unless a review is pending.
    :raises Forbidden: if ``approver`` submitted it (four eyes).
    """
    _require(lifecycle, ContentState.PENDING_APPROVAL, "approved")
    if approver == lifecycle.submitted_by:
        raise Forbidden("content must be approved by someone other than its submitter")
    approved = ContentLifecycle(
        ContentState.APPROVED,
        lifecycle.revision,
        live_revision=lifecycle.revision,
        submitted_by=lifecycle.submitted_by,
    )
    return _move(lifecycle, ContentAction.APPROVE, approver, approved)


def reject(lifecycle: ContentLifecycle, reviewer: UUID, reason: str) -> Transition:
    """Refuse the pending revision; any earlier approved revision keeps playing.

    :raises Conflict: unless a review is pending.
    :raises Invalid: (field ``reason``) if the reason is blank or too long.
    """
    _require(lifecycle, ContentState.PENDING_APPROVAL, "rejected")
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX_CHARS:
        raise Invalid(f"a rejection needs a reason of 1 to {REASON_MAX_CHARS} characters", "reason")
    rejected = ContentLifecycle(
        ContentState.REJECTED,
        lifecycle.revision,
        live_revision=lifecycle.live_revision,
        submitted_by=lifecycle.submitted_by,
    )
    return _move(lifecycle, ContentAction.REJECT, reviewer, rejected, reason)


def archive(lifecycle: ContentLifecycle, editor: UUID) -> Transition:
    """Take the content off every screen for good.

    :raises Conflict: if it was never approved, is pending approval, or is archived.
    """
    if lifecycle.state == ContentState.ARCHIVED:
        raise Conflict("the content is already archived")
    if lifecycle.state == ContentState.PENDING_APPROVAL:
        raise Conflict("the content is pending approval: withdraw it before archiving")
    if lifecycle.live_revision is None:
        raise Conflict("only approved content can be archived")
    archived = ContentLifecycle(ContentState.ARCHIVED, lifecycle.revision)
    return _move(lifecycle, ContentAction.ARCHIVE, editor, archived)


def may_reach_devices(lifecycle: ContentLifecycle, revision: ContentRevision, at: datetime) -> bool:
    """Whether screens may play ``revision`` at the aware instant ``at``: it must be the
    live (approved, not archived) revision and ``at`` must lie in its validity window.

    This is the only gate between the content store and a manifest.
    """
    return (
        lifecycle.live_revision is not None
        and lifecycle.state != ContentState.ARCHIVED
        and revision.number == lifecycle.live_revision
        and revision.is_valid_at(at)
    )


def _require(lifecycle: ContentLifecycle, state: ContentState, verb: str) -> None:
    if lifecycle.state is not state:
        raise Conflict(f"{lifecycle.state} content cannot be {verb}")


def _move(
    before: ContentLifecycle,
    action: ContentAction,
    actor: UUID,
    after: ContentLifecycle,
    reason: str | None = None,
) -> Transition:
    event = LifecycleEvent(
        action=action,
        actor=actor,
        revision=after.revision,
        from_state=before.state,
        to_state=after.state,
        live_revision_before=before.live_revision,
        live_revision_after=after.live_revision,
        reason=reason,
    )
    return Transition(after, event)
