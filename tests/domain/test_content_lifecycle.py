"""The content approval state machine: every transition, four eyes, revisions, the gate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
import pytest

from actors.domain import content_lifecycle as lc
from actors.domain.content_lifecycle import (
    ContentAction,
    ContentLifecycle,
    ContentState,
    Transition,
    may_reach_devices,
)
from actors.domain.content_types import ContentKind, ContentRevision
from actors.errors import Conflict, Forbidden, Invalid

EDITOR = UUID(int=1)
APPROVER = UUID(int=2)
NOON = datetime(2024, 5, 6, 12, tzinfo=UTC)


def text(number: int = 1, **fields: object) -> ContentRevision:
    revision = ContentRevision(number, ContentKind.TEXT, "Welcome", 10, body="Hello")
    return msgspec.structs.replace(revision, **fields)


# Every reachable situation, named.
FRESH = ContentLifecycle(ContentState.DRAFT, 1)
PENDING = ContentLifecycle(ContentState.PENDING_APPROVAL, 1, submitted_by=EDITOR)
APPROVED = ContentLifecycle(ContentState.APPROVED, 1, 1, submitted_by=EDITOR)
REJECTED = ContentLifecycle(ContentState.REJECTED, 1, submitted_by=EDITOR)
DRAFT_OVER_LIVE = ContentLifecycle(ContentState.DRAFT, 2, 1)
PENDING_OVER_LIVE = ContentLifecycle(ContentState.PENDING_APPROVAL, 2, 1, submitted_by=EDITOR)
REJECTED_OVER_LIVE = ContentLifecycle(ContentState.REJECTED, 2, 1, submitted_by=EDITOR)
ARCHIVED = ContentLifecycle(ContentState.ARCHIVED, 2)
SITUATIONS = {
    "fresh": FRESH,
    "pending": PENDING,
    "approved": APPROVED,
    "rejected": REJECTED,
    "draft_over_live": DRAFT_OVER_LIVE,
    "pending_over_live": PENDING_OVER_LIVE,
    "rejected_over_live": REJECTED_OVER_LIVE,
    "archived": ARCHIVED,
}

Action = Callable[[ContentLifecycle], Transition]
ACTIONS: dict[str, Action] = {
    "edit": lambda s: lc.edit(s, EDITOR),
    "submit": lambda s: lc.submit(s, EDITOR, text(s.revision)),
    "withdraw": lambda s: lc.withdraw(s, EDITOR),
    "approve": lambda s: lc.approve(s, APPROVER),
    "reject": lambda s: lc.reject(s, APPROVER, "typo in the headline"),
    "archive": lambda s: lc.archive(s, EDITOR),
}

# (situation, action) -> resulting lifecycle; every pair not listed is a Conflict.
LEGAL: dict[tuple[str, str], ContentLifecycle] = {
    ("fresh", "edit"): FRESH,
    ("fresh", "submit"): PENDING,
    ("pending", "withdraw"): FRESH,
    ("pending", "approve"): APPROVED,
    ("pending", "reject"): REJECTED,
    ("approved", "edit"): DRAFT_OVER_LIVE,
    ("approved", "archive"): ContentLifecycle(ContentState.ARCHIVED, 1),
    ("rejected", "edit"): ContentLifecycle(ContentState.DRAFT, 2),
    ("draft_over_live", "edit"): DRAFT_OVER_LIVE,
    ("draft_over_live", "submit"): PENDING_OVER_LIVE,
    ("draft_over_live", "archive"): ARCHIVED,
    ("pending_over_live", "withdraw"): DRAFT_OVER_LIVE,
    ("pending_over_live", "approve"): ContentLifecycle(
        ContentState.APPROVED, 2, 2, submitted_by=EDITOR
    ),
    ("pending_over_live", "reject"): REJECTED_OVER_LIVE,
    ("rejected_over_live", "edit"): ContentLifecycle(ContentState.DRAFT, 3, 1),
    ("rejected_over_live", "archive"): ContentLifecycle(ContentState.ARCHIVED, 2),
}


@pytest.mark.parametrize(("situation", "action"), sorted(LEGAL))
def test_legal_transition_gives_the_next_lifecycle_and_its_audit_event(
    situation: str, action: str
) -> None:
    before = SITUATIONS[situation]
    result = ACTIONS[action](before)
    assert result.lifecycle == LEGAL[(situation, action)]
    event = result.event
    assert event.action == ContentAction(f"content.{action}")
    assert (event.from_state, event.to_state) == (before.state, result.lifecycle.state)
    assert event.revision == result.lifecycle.revision
    assert event.live_revision_before == before.live_revision
    assert event.live_revision_after == result.lifecycle.live_revision
    assert event.actor == (APPROVER if action in ("approve", "reject") else EDITOR)


@pytest.mark.parametrize(
    ("situation", "action"),
    sorted((s, a) for s in SITUATIONS for a in ACTIONS if (s, a) not in LEGAL),
)
def test_illegal_transition_is_a_conflict(situation: str, action: str) -> None:
    with pytest.raises(Conflict):
        ACTIONS[action](SITUATIONS[situation])


def test_create_starts_a_draft_revision_one() -> None:
    created = lc.create(EDITOR)
    assert created.lifecycle == FRESH
    assert created.event.action == ContentAction.CREATE
    assert (created.event.from_state, created.event.to_state) == (None, ContentState.DRAFT)


def test_submitter_cannot_approve_own_submission() -> None:
    with pytest.raises(Forbidden):
        lc.approve(PENDING, EDITOR)
    with pytest.raises(Forbidden):
        lc.approve(PENDING_OVER_LIVE, EDITOR)


def test_submitter_may_reject_own_submission() -> None:
    rejected = lc.reject(PENDING, EDITOR, "wrong picture")
    assert rejected.lifecycle.state == ContentState.REJECTED
    assert rejected.event.reason == "wrong picture"


def test_four_eyes_follows_whoever_submitted_the_revision() -> None:
    # The approver edits and submits revision 2: now they may not approve it, the editor may.
    edited = lc.edit(APPROVED, APPROVER).lifecycle
    pending = lc.submit(edited, APPROVER, text(2)).lifecycle
    with pytest.raises(Forbidden):
        lc.approve(pending, APPROVER)
    assert lc.approve(pending, EDITOR).lifecycle.live_revision == 2


@pytest.mark.parametrize("reason", ["", "   ", "x" * (lc.REASON_MAX_CHARS + 1)])
def test_rejection_needs_a_reason(reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        lc.reject(PENDING, APPROVER, reason)
    assert caught.value.field == "reason"


def test_submit_refuses_a_revision_other_than_the_working_one() -> None:
    with pytest.raises(Conflict, match="working revision"):
        lc.submit(DRAFT_OVER_LIVE, EDITOR, text(1))


def test_submit_refuses_media_without_a_file() -> None:
    picture = ContentRevision(1, ContentKind.IMAGE, "Poster", 10)
    with pytest.raises(Conflict, match="upload"):
        lc.submit(FRESH, EDITOR, picture)
    uploaded = msgspec.structs.replace(picture, media_sha256="a" * 64)
    assert lc.submit(FRESH, EDITOR, uploaded).lifecycle == PENDING


def test_approved_revision_keeps_playing_while_its_successor_is_reviewed_then_is_replaced() -> None:
    first = text(1)
    second = text(2, body="Hello again")
    editing = lc.edit(APPROVED, EDITOR).lifecycle
    pending = lc.submit(editing, EDITOR, second).lifecycle
    assert may_reach_devices(pending, first, NOON)
    assert not may_reach_devices(pending, second, NOON)
    kept = lc.reject(pending, APPROVER, "no").lifecycle
    assert may_reach_devices(kept, first, NOON)
    replaced = lc.approve(pending, APPROVER).lifecycle
    assert may_reach_devices(replaced, second, NOON)
    assert not may_reach_devices(replaced, first, NOON)


def test_rejected_revision_stays_on_record_and_editing_starts_the_next() -> None:
    again = lc.edit(REJECTED, EDITOR)
    assert again.lifecycle.revision == REJECTED.revision + 1
    assert again.event.revision == 2


def test_never_approved_or_archived_content_never_reaches_devices() -> None:
    for lifecycle in (FRESH, PENDING, REJECTED, ARCHIVED):
        assert not may_reach_devices(lifecycle, text(lifecycle.revision), NOON)
        assert not may_reach_devices(lifecycle, text(1), NOON)


def test_validity_window_is_start_inclusive_end_exclusive() -> None:
    window = text(valid_from=NOON, valid_until=NOON + timedelta(hours=1))
    assert not may_reach_devices(APPROVED, window, NOON - timedelta(microseconds=1))
    assert may_reach_devices(APPROVED, window, NOON)
    assert may_reach_devices(APPROVED, window, NOON + timedelta(minutes=59))
    assert not may_reach_devices(APPROVED, window, NOON + timedelta(hours=1))


@pytest.mark.parametrize(
    "fields",
    [
        {"state": ContentState.APPROVED, "revision": 2, "live_revision": 1, "submitted_by": EDITOR},
        {"state": ContentState.DRAFT, "revision": 1, "live_revision": 1},
        {"state": ContentState.ARCHIVED, "revision": 1, "live_revision": 1},
        {"state": ContentState.PENDING_APPROVAL, "revision": 1},
        {"state": ContentState.DRAFT, "revision": 0},
        {"state": ContentState.DRAFT, "revision": 1, "live_revision": 2},
    ],
)
def test_inconsistent_lifecycle_cannot_be_built_or_decoded(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"revision|submitter"):
        ContentLifecycle(**fields)  # type: ignore[arg-type]
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(msgspec.to_builtins(fields), ContentLifecycle)
