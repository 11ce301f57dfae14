"""Messages between the edge, device actors and tenant actors of one node.

They never cross the relay (they carry live references); the relayed tenant events are
in ``actors/events.py``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from actors.ports.sessions import SessionIdentity


class Flush(msgspec.Struct, frozen=True):
    """The device's outbox has frames: send them (coalesced: one pending at most)."""


class CloseSession(msgspec.Struct, frozen=True):
    """End the session: send ``frame`` (if any), close with ``code``, stop."""

    code: int
    reason: str
    frame: str | None = None


class Notice(msgspec.Struct, frozen=True):
    """An informational frame for the screen (a tolerated protocol error): droppable."""

    frame: str


class Regroup(msgspec.Struct, frozen=True):
    """The device's groups or time zone changed (coalesced: only the newest matters)."""

    groups: tuple[str, ...]
    timezone: str


class SessionOpened(msgspec.Struct, frozen=True):
    """A device actor on this node took over a session (sent by the device actor).

    ``ref`` is the device actor's :class:`~actors.runtime.ActorRef` and ``outbox`` its
    :class:`~actors.node.outbox.Outbox`: the tenant actor writes fan-out frames into
    the outbox directly and tells ``ref`` to flush (no per-device encoding, no await).
    """

    identity: SessionIdentity
    ref: Any
    outbox: Any
    #: The last emergency sequence number the screen saw (``hello``'s ``last_seq``).
    last_seq: int | None = None
    #: Registering again with a new incarnation of the tenant actor (:class:`Rejoin`):
    #: the screen has seen what the previous incarnation had applied.
    rejoining: bool = False


class SessionRegistered(msgspec.Struct, frozen=True):
    """The answer to :class:`SessionOpened`: the session is a fan-out target from now on,
    and its outbox holds the active emergencies it had not seen (the opening's emergency
    part, queued in the same step so that none is missed or reordered) — unless
    ``refused``: its credentials were revoked after its handshake checked them, and the
    device actor ends the session as told (4401), sending nothing else."""

    refused: CloseSession | None = None
    #: Its credentials were read before this tenant actor's relay subscription was live:
    #: a revocation published in between was heard by nobody here, so they are read
    #: again outside the actors (:mod:`actors.services.credential_rechecks`).
    recheck: bool = False


class Rejoin(msgspec.Struct, frozen=True):
    """Register again with the tenant actor: its new incarnation (after a crash) lost the
    list of sessions."""


class SessionClosed(msgspec.Struct, frozen=True):
    """A device actor's session ended (only the incarnation holding ``ref`` is removed)."""

    device_id: UUID
    ref: Any


class SessionsQuery(msgspec.Struct, frozen=True):
    """Ask a tenant actor for the device ids it has sessions for."""


class SessionsAnswer(msgspec.Struct, frozen=True):
    device_ids: tuple[UUID, ...]
