"""What a new session starts with: its current manifest (:class:`ManifestOpening`), or,
without scheduling (unit tests), an empty one (the idle screen for the next 24 hours).
The active emergencies are queued by the tenant actor when the session registers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.domain.manifest_plan import Manifest, ManifestSlice
from actors.ports.manifests import OpeningManifests
from actors.ports.sessions import Opening, SessionIdentity
from actors.protocol import ManifestFrame, encode_text

HORIZON = timedelta(hours=24)


def idle_manifest(now: datetime) -> Manifest:
    """A manifest with one slice and nothing to play: the screen shows its idle page."""
    ends = now + HORIZON
    idle = ManifestSlice(start=now, end=ends, schedule_id=None, playlist_id=None, items=())
    return Manifest(starts_at=now, ends_at=ends, slices=(idle,), content=())


class IdleOpening:
    """Implements :class:`~actors.ports.sessions.SessionOpening` with the idle manifest
    (version 0)."""

    async def opening(self, device: SessionIdentity, last_seq: int | None) -> Opening:
        frame = ManifestFrame.of(0, idle_manifest(datetime.now(UTC).replace(microsecond=0)))
        return Opening(manifest=encode_text(frame))


class ManifestOpening:
    """Implements :class:`~actors.ports.sessions.SessionOpening` with the device's stored
    manifest (computed first if it has none), read through the node's manifest feed so
    that a reconnect storm costs one query per tenant and batch, not one per screen."""

    def __init__(self, source: OpeningManifests) -> None:
        self._source = source

    async def opening(self, device: SessionIdentity, last_seq: int | None) -> Opening:
        found = await self._source.fetch(device.tenant_id, device.device_id)
        if found is None:
            return Opening()  # the manifest follows as soon as the feed has it
        version, frame = found
        return Opening(manifest=frame, manifest_version=version)
