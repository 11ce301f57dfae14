"""Admission control for device sessions: past what the node can take, a fast, explicit
"no" instead of a queue that grows until everything times out.

Two bounds, both checked before the WebSocket upgrade (a refused screen gets HTTP 503
with ``Retry-After``, spread so that refused screens do not all come back at once):

- ``max_sessions``: sessions this node holds (memory stays bounded: ~50 KiB each);
- ``max_opening``: sessions being opened at once (authenticated, registered, sent their
  opening frames). A reconnect storm is taken at the rate the node can open sessions;
  the rest retry, and the node keeps answering admins' HTTP requests meanwhile.

Synchronous and lock-free: one event loop owns it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a session was not admitted, and when to try again (whole seconds)."""

    title: str
    detail: str
    retry_after_s: int


class Admission:
    """See the module docstring. ``sessions`` tells how many sessions the node holds."""

    def __init__(
        self,
        *,
        max_sessions: int,
        max_opening: int,
        sessions: Callable[[], int],
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._max_sessions = max_sessions
        self._max_opening = max_opening
        self._sessions = sessions
        self._jitter = jitter
        self.opening = 0
        self.refused = 0

    def admit(self) -> Refusal | None:
        """``None`` and one more session opening (call :meth:`opened` when it is open or
        failed), or why not."""
        if self._sessions() + self.opening >= self._max_sessions:
            return self._refuse("Node full", "this node holds all the sessions it can", 5)
        if self.opening >= self._max_opening:
            return self._refuse(
                "Node busy", "this node is opening as many sessions as it can at once", 1
            )
        self.opening += 1
        return None

    def opened(self) -> None:
        """The session admitted last is open (or ended before it was)."""
        self.opening = max(0, self.opening - 1)

    def _refuse(self, title: str, detail: str, base_s: int) -> Refusal:
        self.refused += 1
        # 1-2x the base delay: the refused part of a storm comes back spread out.
        return Refusal(title, detail, base_s + int(self._jitter() * (base_s + 1)))
