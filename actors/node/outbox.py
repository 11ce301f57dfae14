"""A device's outbound frames, in the order they must reach the screen.

Three lanes, drained in priority order, each with its own overflow policy:

============ ================================================================== =========
lane         what                                                                when full
============ ================================================================== =========
urgent       emergencies and their clears: never dropped, never reordered       overflowed
manifest     the newest manifest only (a newer one replaces an unsent older one) coalesce
normal       everything else (informational frames)                              drop oldest
============ ================================================================== =========

An urgent frame jumps ahead of any queued manifest or normal frame. When the urgent lane
holds more than its limit the outbox marks itself :attr:`Outbox.overflowed` and keeps the
frame: its owner must then close the session (the screen reconnects and gets every active
emergency from PostgreSQL), never drop an emergency and never wait for the screen.

Beside the lanes, a :class:`DirectLane`: while its owner is idle (nothing queued, nothing in
flight) the owner *grants* it, and a fan-out may hand an urgent frame straight to the
screen through it — no queue, no wake-up; the owner *revokes* it before it writes itself,
so the screen still sees every frame in order and only one writer at a time.

Frames are pre-encoded text shared between recipients: the outbox never copies them.
Not thread-safe: one event loop.
"""

from __future__ import annotations

from collections.abc import Callable

URGENT_LIMIT = 64
NORMAL_LIMIT = 32

#: Writes one frame to the screen without waiting; False if the connection would block.
DirectWrite = Callable[[str], bool]


class DirectLane:
    """Lets others write to a session's screen while its owner is idle (see the module
    docstring). Closed until :meth:`grant`; :meth:`revoke` is idempotent."""

    __slots__ = ("_write",)

    def __init__(self) -> None:
        self._write: DirectWrite | None = None

    def grant(self, write: DirectWrite) -> None:
        self._write = write

    def revoke(self) -> None:
        self._write = None

    @property
    def open(self) -> bool:
        return self._write is not None

    def write(self, frame: str) -> bool:
        """Hand ``frame`` to the screen now if the lane is open and the connection takes
        it without waiting; ``False``: nothing was written."""
        write = self._write
        return write is not None and write(frame)


class Outbox:
    __slots__ = (
        "_manifest",
        "_normal",
        "_normal_limit",
        "_urgent",
        "_urgent_limit",
        "direct",
        "dropped",
        "manifest_version",
        "overflowed",
    )

    def __init__(self, urgent_limit: int = URGENT_LIMIT, normal_limit: int = NORMAL_LIMIT) -> None:
        # Lists, not deques: an idle session's empty list costs 56 bytes where an empty
        # deque costs ~600, and popping the front of at most 64 frames is cheap.
        self._urgent: list[str] = []
        self._manifest: str | None = None
        self._normal: list[str] = []
        self._urgent_limit = urgent_limit
        self._normal_limit = normal_limit
        #: Normal frames dropped and manifests superseded.
        self.dropped = 0
        #: The urgent lane went past its limit: close the session.
        self.overflowed = False
        #: The newest manifest version queued (0: none yet); older ones are refused.
        self.manifest_version = 0
        #: Granted by the owning actor while it is idle; see :meth:`send_now`.
        self.direct = DirectLane()

    def send_now(self, frame: str) -> bool:
        """The fan-out's direct lane for a never-drop frame: handed straight to the screen
        when the owner is idle, no urgent frame is queued before it, and the connection
        takes it without waiting — no queue, no wake-up. ``False``: nothing was sent;
        queue it with :meth:`put_urgent` (and wake the owner)."""
        return not self._urgent and self.direct.write(frame)

    def put_urgent(self, frame: str) -> bool:
        """Queue a never-drop frame; returns False if the outbox just overflowed."""
        self._urgent.append(frame)
        if len(self._urgent) > self._urgent_limit:
            self.overflowed = True
        return not self.overflowed

    def put_manifest(self, frame: str, version: int | None = None) -> bool:
        """Queue the newest manifest, replacing one not sent yet. With ``version``, a
        frame not newer than the last one queued is refused (returns False): a screen
        never goes back to an older manifest, whichever path brought it."""
        if version is not None:
            if version <= self.manifest_version:
                return False
            self.manifest_version = version
        if self._manifest is not None:
            self.dropped += 1
        self._manifest = frame
        return True

    def put_normal(self, frame: str) -> None:
        if len(self._normal) >= self._normal_limit:
            del self._normal[0]
            self.dropped += 1
        self._normal.append(frame)

    def pop(self) -> str | None:
        """The next frame to send, urgent first; ``None`` when empty."""
        if self._urgent:
            return self._urgent.pop(0)
        if self._manifest is not None:
            frame, self._manifest = self._manifest, None
            return frame
        if self._normal:
            return self._normal.pop(0)
        return None

    def __len__(self) -> int:
        return len(self._urgent) + (self._manifest is not None) + len(self._normal)
