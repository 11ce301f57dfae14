"""The device WebSocket protocol: every frame a screen may send or receive.

Text frames, one JSON object each, discriminated by ``"type"`` (API.md, "Device
WebSocket"). Inbound frames are decoded exactly once, at the edge, by :func:`decode_inbound`;
anything that is not one of :data:`Inbound` is a protocol error. Outbound frames are encoded
once per event (not once per device) by :func:`encode_outbound` and the bytes are shared.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from actors.domain.devices import ShortLabel
from actors.domain.fleet import CommandName, CommandResult
from actors.domain.manifest_plan import Manifest, ManifestContent, ManifestSlice

#: Frames larger than this close the session with 1009 (API.md).
MAX_INBOUND_FRAME_BYTES = 4096

Severity = Literal["info", "warning", "critical"]
#: ``drill``: an exercise, which players mark as one (docs/emergencies.md, "Drills").
EmergencyMode = Literal["live", "drill"]

#: The largest number PostgreSQL's ``bigint`` holds. Every integer a device sends is bounded
#: by it (and by 0 below): an unbounded one would reach a batched write shared by every
#: tenant and fail that whole statement (issue 14, L2).
INT63_MAX = 2**63 - 1
WireInt = Annotated[int, msgspec.Meta(ge=0, le=INT63_MAX)]
"""A sequence or version number as a device may send it."""
#: A heartbeat's ``uptime_s`` above this (about 31 years) is refused.
MAX_UPTIME_S = 1e9


# --- device → server ---------------------------------------------------------------------


class Hello(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="hello", tag_field="type"):
    """Authentication by first frame (when the upgrade carried no Authorization header)."""

    token: str
    #: The last emergency sequence number this screen saw; avoids repeats after reconnect.
    last_seq: WireInt | None = None


class Heartbeat(msgspec.Struct, frozen=True, tag="heartbeat", tag_field="type"):
    """Liveness plus optional status (docs/devices.md, "Status"). Unknown status fields are
    accepted and ignored (players differ), but the frame size limit and these fields' types
    and bounds still apply: a heartbeat breaking them is a protocol error (an ``error``
    frame naming the field; repeated, 1008), never stored."""

    uptime_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_UPTIME_S)] | None = None
    app_version: ShortLabel | None = None
    manifest_version: WireInt | None = None
    #: What plays now (a content id or name: free text for the operator).
    playing: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    display_on: bool | None = None
    free_storage_bytes: WireInt | None = None
    last_error: Annotated[str, msgspec.Meta(max_length=500)] | None = None

    def has_status(self) -> bool:
        """Whether it carries any status field (else it is liveness only)."""
        return self != _BARE_HEARTBEAT


#: A heartbeat without status (compared against: one C-level struct comparison).
_BARE_HEARTBEAT = Heartbeat()


class Ack(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="ack", tag_field="type"):
    """Acknowledges exactly one of: an emergency, or a manifest version."""

    emergency_id: UUID | None = None
    manifest_version: WireInt | None = None

    def __post_init__(self) -> None:
        if (self.emergency_id is None) == (self.manifest_version is None):
            raise ValueError("an ack names exactly one of emergency_id or manifest_version")


class CommandResultFrame(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="command_result", tag_field="type"
):
    """The screen's answer to a ``command`` frame (docs/devices.md, "Commands")."""

    id: UUID
    result: CommandResult
    detail: Annotated[str, msgspec.Meta(max_length=200)] | None = None


#: Items one ``played`` frame may carry (20 items are ~2.5 KiB, under the frame limit).
MAX_PLAYED_ITEMS = 20
#: One item's duration at most: a day.
MAX_PLAYED_MS = 86_400_000


class PlayedItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One thing the screen played: which content, from when, for how long."""

    content_id: UUID
    #: With its offset (RFC 3339); a naive time is refused.
    started_at: Annotated[datetime, msgspec.Meta(tz=True)]
    duration_ms: Annotated[int, msgspec.Meta(ge=0, le=MAX_PLAYED_MS)]


class Played(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="played", tag_field="type"
):
    """Proof of play (docs/devices.md, "Proof of play"): what the screen played since its
    last report, oldest first, at most :data:`MAX_PLAYED_ITEMS` items a frame."""

    items: Annotated[
        tuple[PlayedItem, ...], msgspec.Meta(min_length=1, max_length=MAX_PLAYED_ITEMS)
    ]


Inbound = Hello | Heartbeat | Ack | CommandResultFrame | Played


class ProtocolError(Exception):
    """An inbound frame that is not valid protocol; ``str()`` is safe to send back."""


_inbound: msgspec.json.Decoder[Inbound] = msgspec.json.Decoder(Inbound)


def decode_inbound(raw: bytes | str) -> Inbound:
    """Decode one inbound frame.

    :raises ProtocolError: for bad JSON, an unknown type, wrong field types or unknown fields.
    """
    try:
        return _inbound.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ProtocolError(str(exc)) from None


# --- server → device ---------------------------------------------------------------------


class Welcome(msgspec.Struct, frozen=True, tag="welcome", tag_field="type"):
    device_id: UUID
    tenant_id: UUID
    server_time: datetime


class ManifestFrame(msgspec.Struct, frozen=True, tag="manifest", tag_field="type"):
    """What the screen plays now and over the next hours (``actors/domain/manifest_plan``):
    the manifest document itself, plus its version (bumped only when it changes)."""

    version: int
    starts_at: datetime
    ends_at: datetime
    slices: tuple[ManifestSlice, ...]
    content: tuple[ManifestContent, ...]

    @classmethod
    def of(cls, version: int, manifest: Manifest) -> ManifestFrame:
        return cls(
            version=version,
            starts_at=manifest.starts_at,
            ends_at=manifest.ends_at,
            slices=manifest.slices,
            content=manifest.content,
        )


class EmergencyFrame(msgspec.Struct, frozen=True, tag="emergency", tag_field="type"):
    id: UUID
    seq: int
    message: str
    severity: Severity
    started_at: datetime
    expires_at: datetime | None
    mode: EmergencyMode = "live"


class EmergencyClearFrame(msgspec.Struct, frozen=True, tag="emergency_clear", tag_field="type"):
    id: UUID
    seq: int


class Revoked(msgspec.Struct, frozen=True, tag="revoked", tag_field="type"):
    """Sent just before closing with 4401."""


class Reconnect(msgspec.Struct, frozen=True, tag="reconnect", tag_field="type"):
    """The node is shutting down: reconnect (to any node) after a jittered delay."""

    after_ms: int


class CommandFrame(msgspec.Struct, frozen=True, tag="command", tag_field="type"):
    """A device manager's remote command; the screen answers with ``command_result``."""

    id: UUID
    name: CommandName


class ErrorFrame(msgspec.Struct, frozen=True, tag="error", tag_field="type"):
    """A protocol error the server tolerated; repeated errors close the session (1008)."""

    detail: str


Outbound = (
    Welcome
    | ManifestFrame
    | EmergencyFrame
    | EmergencyClearFrame
    | Revoked
    | Reconnect
    | CommandFrame
    | ErrorFrame
)

_outbound = msgspec.json.Encoder()


def encode_outbound(frame: Outbound) -> bytes:
    """The frame's JSON bytes."""
    return _outbound.encode(frame)


def encode_text(frame: Outbound) -> str:
    """The frame as WebSocket text. Encode once per event and share the string among
    recipients: ASGI sends text frames from ``str``, so decoding once here saves a copy
    per device on the fan-out path."""
    return _outbound.encode(frame).decode()


class CloseCode(enum.IntEnum):
    """WebSocket close codes the device endpoint uses (docs/devices.md has the table)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY = 1008  # repeated protocol errors, inbound rate limit
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011  # the session's actor crashed: reconnect
    SERVICE_RESTART = 1012  # the node is shutting down: reconnect (to any node)
    TRY_AGAIN_LATER = 1013  # node overloaded or shutting down
    UNAUTHORIZED = 4401  # bad, pending or revoked secret; suspended tenant
    REPLACED = 4409  # a newer session with the same secret took over
    IDLE_TIMEOUT = 4408  # nothing received within the idle timeout (no heartbeat)
