"""What a new session starts with, until scheduling and emergencies provide more: an
empty manifest (the idle screen for the next 24 hours)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.domain.manifest_plan import Manifest, ManifestSlice
from actors.protocol import ManifestFrame, encode_text
from actors.sessions.ports import Opening, SessionIdentity

HORIZON = timedelta(hours=24)


def idle_manifest(now: datetime) -> Manifest:
    """A manifest with one slice and nothing to play: the screen shows its idle page."""
    ends = now + HORIZON
    idle = ManifestSlice(start=now, end=ends, schedule_id=None, playlist_id=None, items=())
    return Manifest(starts_at=now, ends_at=ends, slices=(idle,), content=())


class IdleOpening:
    """Implements :class:`~actors.sessions.ports.SessionOpening` with the idle manifest
    (version 0)."""

    async def opening(self, device: SessionIdentity, last_seq: int | None) -> Opening:
        frame = ManifestFrame.of(0, idle_manifest(datetime.now(UTC).replace(microsecond=0)))
        return Opening(manifest=encode_text(frame))
