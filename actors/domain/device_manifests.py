"""A device's stored manifest, and the frame that carries it to the screen.

Documents are stored as their canonical JSON (:func:`~actors.domain.manifest_plan.
canonical_json`), the very bytes their hash is taken of; the frame a screen receives is
that document with ``type`` and ``version`` in front, so it is built by splicing text, not
by decoding and re-encoding the document once per version.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

_FRAME_HEAD = '{"type":"manifest","version":'


class StoredManifest(msgspec.Struct, frozen=True, kw_only=True):
    """A device's current manifest: ``document`` at ``version``, and what it acked."""

    device_id: UUID
    version: int
    hash: str
    document: str
    starts_at: datetime
    ends_at: datetime
    computed_at: datetime
    acked_version: int | None = None
    acked_at: datetime | None = None


def frame_text(version: int, document: str) -> str:
    """The ``manifest`` frame for ``document`` (canonical JSON of a ``Manifest``) at
    ``version``: the same text ``encode_text(ManifestFrame.of(version, manifest))`` gives.

    :raises ValueError: if ``document`` is not a JSON object with at least one field.
    """
    if not document.startswith('{"'):
        raise ValueError("a manifest document is a non-empty JSON object")
    return f"{_FRAME_HEAD}{int(version)},{document[1:]}"
