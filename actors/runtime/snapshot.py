"""What operators see of an actor or a supervisor: plain, encodable, point-in-time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import msgspec

#: ``starting`` (in ``on_start``), ``running``, ``restarting`` (backing off after a
#: crash), ``stopping`` (finishing its last message and ``on_stop``), ``stopped``.
Status = Literal["starting", "running", "restarting", "stopping", "stopped"]


class ActorSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """One actor as its supervisor sees it.

    ``mailbox`` is the number of queued messages now; ``restarts`` counts restarts
    after crashes; ``last_message_at`` is when its latest message started being
    handled (``None`` before the first). ``state`` is the actor's own summary and is
    only filled in when asked for one actor (lists leave it out: 10,000 summaries are
    not an inspection, they are a load test).
    """

    kind: str
    id: str
    mailbox: int
    restarts: int
    last_message_at: datetime | None
    status: Status
    supervisor: str
    capacity: int
    high_water: int
    processed: int
    crashes: int
    dropped: int
    overflows: int
    started_at: datetime
    #: Set while a handler (or ``on_start``) runs: when it started.
    busy_since: datetime | None = None
    state: msgspec.Struct | Mapping[str, object] | None = None


class SupervisorSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A supervisor: its place in the tree, its children, its own restarts."""

    path: str
    status: Status
    children: int
    restarts: int
    crashes: int
    strategy: Literal["one_for_one"] = "one_for_one"
