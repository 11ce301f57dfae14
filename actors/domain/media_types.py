"""What an uploaded file is, decided from its first bytes (magic numbers) — pure.

The declared ``Content-Type`` of an upload is a claim; the bytes are the evidence. Only
formats screens play and that carry no script are accepted: PNG, JPEG, GIF, WebP and
AVIF images; MP4, QuickTime and WebM videos. SVG is refused on purpose (it is XML that
may carry script), and so is everything the table below does not recognise.
"""

from __future__ import annotations

from actors.domain.content_types import ContentKind

#: Bytes :func:`sniff` looks at; a file shorter than this is judged on what it has.
HEAD_BYTES = 64

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})

#: Spellings clients send for the types above.
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "video/x-m4v": "video/mp4"}
# ISO base media file format (MP4 family): bytes 4-8 are "ftyp", 8-12 the major brand.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_QUICKTIME_BRANDS = frozenset({b"qt  "})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V "}
)
_EBML = b"\x1a\x45\xdf\xa3"
# The EBML header names its DocType: an element with id 0x4282, then its size (0x84: a
# one-byte size of 4), then "webm".
_WEBM_DOCTYPE = b"\x42\x82\x84webm"


def sniff(head: bytes) -> str | None:
    """The media type ``head`` (a file's first :data:`HEAD_BYTES` or fewer) starts,
    or ``None`` if it is none of the accepted formats."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "image/avif"
        if brand in _QUICKTIME_BRANDS:
            return "video/quicktime"
        if brand in _MP4_BRANDS:
            return "video/mp4"
        return None
    if head.startswith(_EBML) and _WEBM_DOCTYPE in head[:HEAD_BYTES]:
        return "video/webm"
    return None


def normalize_declared(content_type: str | None) -> str | None:
    """The bare media type of a ``Content-Type`` header, lower-cased, parameters and
    common aliases resolved; ``None`` when absent or blank."""
    if content_type is None:
        return None
    bare = content_type.split(";", 1)[0].strip().lower()
    if not bare:
        return None
    return _ALIASES.get(bare, bare)


def accepted_for(kind: ContentKind) -> frozenset[str]:
    """The media types a content item of ``kind`` may upload (none for non-media kinds)."""
    if kind == ContentKind.IMAGE:
        return IMAGE_TYPES
    if kind == ContentKind.VIDEO:
        return VIDEO_TYPES
    return frozenset()
