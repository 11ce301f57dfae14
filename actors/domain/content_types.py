"""Content value types: the kinds of content and what one revision of it holds.

A revision is what an approver approves: kind, name, duration, validity window and
payload (web address, HTML/text body, or uploaded media identified by its SHA-256).
Changing any of these on approved content makes a new revision (see
:mod:`actors.domain.content_lifecycle`); screens only ever see approved revisions.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

import msgspec

from actors.domain.schedule_types import Instant
from actors.errors import Conflict, Invalid

NAME_MAX_CHARS = 200
BODY_MAX_CHARS = 65_536
URI_MAX_CHARS = 2_048
DURATION_MAX_S = 86_400
"""A single item may hold the screen for at most a day."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

#: What a text or HTML body may not hold: control characters but tab, line feed and
#: carriage return (C0, DEL, C1), and the Unicode line/paragraph separators. Each of them
#: JSON-encodes to a 6-byte escape in every manifest that carries the body (10 such
#: bodies made a 3.9 MB manifest frame; issue 14, M2) and none of them is text a screen
#: shows.
UNPRINTABLE_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029"
BODY_PATTERN = f"^[^{UNPRINTABLE_CHARS}]*$"
"""A body's characters as a JSON Schema ``pattern`` (the rule :func:`validate_revision` applies)."""
_UNPRINTABLE = re.compile(f"[{UNPRINTABLE_CHARS}]")


class ContentKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    URL = "url"
    HTML = "html"
    TEXT = "text"


MEDIA_KINDS = frozenset({ContentKind.IMAGE, ContentKind.VIDEO})
"""Kinds whose payload is a file: an upload (``media_sha256``) or an external ``uri``."""

BODY_KINDS = frozenset({ContentKind.HTML, ContentKind.TEXT})
"""Kinds whose payload is ``body``."""


class ContentRevision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One revision of a content item: everything a screen needs to play it.

    ``number`` counts from 1 per content item. ``[valid_from, valid_until)`` bounds when
    it may play (``None``: unbounded on that side). ``media_sha256`` (lower-case hex) and
    ``media_type`` describe an uploaded file of a media kind.
    """

    number: int
    kind: ContentKind
    name: str
    duration_s: int
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    uri: str | None = None
    body: str | None = None
    media_sha256: str | None = None
    media_type: str | None = None

    def is_valid_at(self, at: datetime) -> bool:
        """Whether ``at`` lies in the validity window (start inclusive, end exclusive)."""
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


def validate_revision(revision: ContentRevision) -> None:
    """Check a revision's fields against its kind, as an editor saves it (a draft may still
    lack its media upload: :func:`ensure_ready_for_review` checks that at submission).

    :raises Invalid: naming the offending field.
    """
    if revision.number < 1:
        raise Invalid("revisions are numbered from 1", field="revision")
    if not revision.name.strip() or len(revision.name) > NAME_MAX_CHARS:
        raise Invalid(f"name must be 1 to {NAME_MAX_CHARS} characters", field="name")
    if not 1 <= revision.duration_s <= DURATION_MAX_S:
        raise Invalid(f"duration_s must lie in [1, {DURATION_MAX_S}]", field="duration_s")
    for name, instant in (
        ("valid_from", revision.valid_from),
        ("valid_until", revision.valid_until),
    ):
        if instant is not None and instant.utcoffset() is None:
            raise Invalid("instants must carry a UTC offset", field=name)
    if (
        revision.valid_from is not None
        and revision.valid_until is not None
        and revision.valid_until <= revision.valid_from
    ):
        raise Invalid("valid_until must be later than valid_from", field="valid_until")
    if revision.kind in BODY_KINDS:
        if revision.body is None or not revision.body.strip():
            raise Invalid(f"{revision.kind} content needs a body", field="body")
        if len(revision.body) > BODY_MAX_CHARS:
            raise Invalid(f"body is limited to {BODY_MAX_CHARS} characters", field="body")
        bad = _UNPRINTABLE.search(revision.body)
        if bad is not None:
            raise Invalid(
                f"body holds the control character U+{ord(bad.group()):04X} at {bad.start()}:"
                " only printable text, tabs and line breaks are allowed",
                field="body",
            )
        if revision.uri is not None:
            raise Invalid(f"{revision.kind} content takes a body, not a uri", field="uri")
    else:
        if revision.body is not None:
            raise Invalid(f"{revision.kind} content takes no body", field="body")
        if revision.kind == ContentKind.URL and revision.uri is None:
            raise Invalid("url content needs a uri", field="uri")
        if revision.uri is not None:
            _check_web_address(revision.uri)
    if revision.kind not in MEDIA_KINDS and revision.media_sha256 is not None:
        raise Invalid(f"{revision.kind} content takes no media upload", field="media_sha256")
    if revision.media_sha256 is not None and not _SHA256_HEX.fullmatch(revision.media_sha256):
        raise Invalid("media_sha256 must be 64 lower-case hex digits", field="media_sha256")


def ensure_ready_for_review(revision: ContentRevision) -> None:
    """A media item must name its file (upload or external uri) before anyone reviews it.

    :raises Conflict: if it does not — the content's state, not the request, is at fault.
    """
    if revision.kind in MEDIA_KINDS and revision.media_sha256 is None and revision.uri is None:
        raise Conflict(f"upload the {revision.kind} (or give its uri) before submitting")


def _check_web_address(uri: str) -> None:
    problem = (
        f"uri must be an http(s) address without credentials, at most {URI_MAX_CHARS} characters"
    )
    if len(uri) > URI_MAX_CHARS or any(ch.isspace() or not ch.isprintable() for ch in uri):
        raise Invalid(problem, field="uri")
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname
    except ValueError:  # e.g. a malformed IPv6 literal
        raise Invalid(problem, field="uri") from None
    if (
        parts.scheme not in ("http", "https")
        or not hostname
        or parts.username is not None
        or parts.password is not None
    ):
        raise Invalid(problem, field="uri")
