"""What a tenant actor remembers of the revocations it heard lately, for the sessions
whose registration was still under way when the notice came.

A screen's secret is checked in its handshake (one batched PostgreSQL read), and its
session registers with its tenant actor a little later (after ``welcome``). A revocation,
deletion or rotation committed in between is refused by every later handshake, but its
notice may reach the tenant actor *before* that session registers: there was no session
to close then. So the actor keeps, for ``keep_s`` seconds (longer than any handshake-to-
registration time: see :func:`keep_for`), which credentials it was told are no longer
valid, and refuses (4401) the registration of a session presenting one of them, exactly
as it would have closed it.

No clock is compared across nodes: a revoked or deleted device never connects again
(revocation is final; a deleted device's id is gone with its row), so *any* session of it
registering within ``keep_s`` was checked before the revocation; a rotation names the
secret it replaced (:attr:`~actors.events.DeviceSecretRotated.old_secret_digest`), so
sessions on the new secret register normally. Bounded (``limit`` entries, the oldest
forgotten first) and time-limited; no I/O. A notice this node never got (a relay gap) is
not here: the reconciliation closes that session (every ``RECONCILE_EVERY_S``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

LIMIT = 65_536


def keep_for(send_timeout_s: float, ask_timeout_s: float) -> float:
    """How long to remember a revocation: a session that registers does so within its
    ``welcome`` send (``SESSION_SEND_TIMEOUT_S``) and its registration ask
    (``ACTOR_ASK_TIMEOUT_S``) of its credentials being read (past that its device actor
    gave up and closed it, 1013); twice that, for the scheduling in between."""
    return 2.0 * (send_timeout_s + ask_timeout_s)


class RecentRevocations:
    """See the module docstring. ``clock``: monotonic seconds (this node's only)."""

    __slots__ = ("_clock", "_entries", "_keep_s", "_limit")

    def __init__(
        self,
        keep_s: float,
        *,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keep_s = keep_s
        self._limit = limit
        self._clock = clock
        #: (device, the secret refused or ``None`` for all of them) -> expiry, oldest first.
        self._entries: dict[tuple[UUID, bytes | None], float] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def revoked(self, device_id: UUID, secret_digest: bytes | None = None) -> None:
        """The device's secret ``secret_digest`` (``None``: every secret of it) is no
        longer valid."""
        now = self._clock()
        entries = self._entries
        key = (device_id, secret_digest)
        entries.pop(key, None)  # re-inserted last: the dict stays in expiry order
        entries[key] = now + self._keep_s
        while True:  # forget the expired and, past the limit, the oldest
            oldest = next(iter(entries))
            if entries[oldest] > now and len(entries) <= self._limit:
                break
            del entries[oldest]

    def refuses(self, device_id: UUID, secret_digest: bytes) -> bool:
        """Whether a session of ``device_id`` authenticated with ``secret_digest`` was
        revoked lately (its registration must be refused)."""
        entries = self._entries
        if not entries:
            return False
        now = self._clock()
        for key in ((device_id, None), (device_id, secret_digest)):
            expires = entries.get(key)
            if expires is not None and expires > now:
                return True
        return False
