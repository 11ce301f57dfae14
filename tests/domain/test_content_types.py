"""A revision's fields against its kind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from actors.domain.content_types import (
    BODY_MAX_CHARS,
    DURATION_MAX_S,
    ContentKind,
    ContentRevision,
    validate_revision,
)
from actors.errors import Invalid

SHA = "0123456789abcdef" * 4
WHEN = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "revision",
    [
        ContentRevision(1, ContentKind.IMAGE, "Poster", 10),  # upload still to come
        ContentRevision(
            1, ContentKind.IMAGE, "Poster", 10, media_sha256=SHA, media_type="image/png"
        ),
        ContentRevision(1, ContentKind.VIDEO, "Clip", 30, uri="https://cdn.example/clip.mp4"),
        ContentRevision(1, ContentKind.URL, "Menu", 60, uri="https://intranet.example/menu"),
        ContentRevision(1, ContentKind.HTML, "Banner", 15, body="<h1>Hi</h1>"),
        ContentRevision(1, ContentKind.TEXT, "Notice", 15, body="Hi", valid_from=WHEN),
    ],
)
def test_valid_revisions_pass(revision: ContentRevision) -> None:
    validate_revision(revision)


BASE = ContentRevision(1, ContentKind.URL, "Menu", 60, uri="https://intranet.example/menu")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"number": 0}, "revision"),
        ({"name": "  "}, "name"),
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": DURATION_MAX_S + 1}, "duration_s"),
        ({"valid_from": datetime(2024, 5, 1)}, "valid_from"),  # naive
        ({"valid_from": WHEN, "valid_until": WHEN}, "valid_until"),
        ({"uri": None}, "uri"),
        ({"uri": "javascript:alert(1)"}, "uri"),
        ({"uri": "file:///etc/passwd"}, "uri"),
        ({"uri": "https://user:secret@intranet.example/"}, "uri"),
        ({"uri": "https://intranet.example/a b"}, "uri"),
        ({"uri": "https://[::1/"}, "uri"),
        ({"uri": "https:///no-host"}, "uri"),
        ({"body": "hello"}, "body"),
        ({"media_sha256": SHA}, "media_sha256"),
        ({"kind": ContentKind.TEXT, "uri": None}, "body"),
        ({"kind": ContentKind.TEXT, "uri": None, "body": "x" * (BODY_MAX_CHARS + 1)}, "body"),
        ({"kind": ContentKind.HTML, "body": "<p>x</p>"}, "uri"),
        ({"kind": ContentKind.IMAGE, "uri": None, "media_sha256": "ABC"}, "media_sha256"),
    ],
)
def test_invalid_revision_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_revision(msgspec.structs.replace(BASE, **change))
    assert caught.value.field == field
