"""One node's view of one tenant's emergencies, and what each change means for screens — pure.

The tenant actor keeps an :class:`EmergencyBoard` and feeds it every emergency event it
hears of, whichever way it came: from this node's use case, over the relay, or read back
from PostgreSQL's outbox when catching up. The board answers with the frames to fan out
(:class:`Fanout`: one pre-encoded frame, and the target it is for), and never answers
twice for the same thing:

- each **sequence number** is applied once (the relay and a catch-up may both bring it);
- each **emergency** is started once and ended once on this board, whatever order the
  events came in; an end that overtook its start leaves a tombstone, so the late start
  shows nothing.

Sequence numbers are gapless per tenant, so the board knows when it missed something:
:attr:`EmergencyBoard.seq` is the number up to which *every* event is applied; events
above it that came early wait in a small set until the hole is filled.
:attr:`EmergencyBoard.has_gap` says a catch-up is due; its :class:`BoardPosition` is what
a reader outside the board needs to catch it up, and says whether one is due against a
head read from PostgreSQL (:meth:`BoardPosition.due`).

It also answers the two per-screen questions: which frames a session starts with
(:meth:`EmergencyBoard.opening`, honouring the screen's ``last_seq``), and what a
screen's change of groups shows or withdraws (:meth:`EmergencyBoard.regrouped`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec

from actors.domain.emergencies import (
    EmergencyEnded,
    EmergencyEvent,
    EmergencySnapshot,
    EmergencyStarted,
    clear_frame,
)
from actors.domain.targets import Target

#: Ended emergencies remembered (for screens reconnecting with an older ``last_seq``,
#: and to recognise late events). Emergencies are rare: this covers weeks of them.
REMEMBER_ENDED = 256
#: Early events kept while a hole waits to be filled; past it the board forgets them and
#: relies on the catch-up it has asked for (they are all in PostgreSQL).
MAX_AHEAD = 4096


@dataclass(frozen=True, slots=True)
class BoardPosition:
    """How far a board got: what a catch-up reads after, as a value the board's owner can
    hand to whoever reads PostgreSQL for it."""

    #: Every event up to this number is applied; ``None``: no snapshot yet (read one).
    seq: int | None
    #: The emergencies the board shows (a snapshot reports their end even if long ago).
    active: tuple[UUID, ...] = ()

    def due(self, head: int) -> bool:
        """Whether a catch-up is due against PostgreSQL's ``head``: no snapshot yet, events
        not applied, or numbers PostgreSQL does not hold (restored from a backup, or an
        event committed since the head was read) — the catch-up's answer says which."""
        return self.seq != head


@dataclass(frozen=True, slots=True)
class Fanout:
    """Send ``frame`` to the local screens ``target`` selects."""

    emergency_id: UUID
    seq: int
    target: Target
    frame: str
    #: True for a start, False for an end.
    starts: bool


@dataclass(frozen=True, slots=True)
class _Live:
    event: EmergencyStarted
    frame: str


@dataclass(frozen=True, slots=True)
class _Ended:
    #: ``None`` when the board never saw the start (a tombstone).
    started_seq: int | None
    ended_seq: int
    target: Target | None
    frame: str


class BoardSummary(msgspec.Struct, frozen=True):
    seq: int | None
    highest: int
    active: int
    waiting: int


class EmergencyBoard:
    """See the module docstring. Not thread-safe: its tenant actor owns it."""

    def __init__(self, remember_ended: int = REMEMBER_ENDED) -> None:
        #: Every event up to this number is applied; ``None`` until a snapshot is loaded.
        self.seq: int | None = None
        #: The highest number heard of (applied or not).
        self.highest = 0
        self._ahead: set[int] = set()
        self._active: dict[UUID, _Live] = {}
        self._ended: OrderedDict[UUID, _Ended] = OrderedDict()
        self._remember = remember_ended

    # -- state -----------------------------------------------------------------------------

    @property
    def has_gap(self) -> bool:
        """Some event is missing: not loaded yet, or a number skipped."""
        return self.seq is None or bool(self._ahead)

    def position(self) -> BoardPosition:
        return BoardPosition(self.seq, tuple(self._active))

    def active_ids(self) -> list[UUID]:
        return list(self._active)

    def summary(self) -> BoardSummary:
        return BoardSummary(self.seq, self.highest, len(self._active), len(self._ahead))

    # -- events ----------------------------------------------------------------------------

    def apply(self, event: EmergencyEvent) -> Fanout | None:
        """Apply one event from anywhere; the frame to fan out, or ``None`` if it shows
        nothing new (a repeat, an end that overtook its start, ...)."""
        if not self._count(event.seq):
            return None
        if isinstance(event, EmergencyStarted):
            return self._start(event)
        return self._end(event)

    def catch_up(self, events: Sequence[EmergencyEvent]) -> list[Fanout]:
        """Apply a batch read from the outbox, in sequence order. An emergency that both
        starts and ends within the batch shows nothing (it is over already)."""
        ends = {e.id: e for e in events if isinstance(e, EmergencyEnded)}
        fanouts: list[Fanout] = []
        for event in events:
            if not self._count(event.seq):
                continue
            if isinstance(event, EmergencyStarted):
                end = ends.get(event.id)
                if end is not None and event.id not in self._active:
                    # Over already: nothing to show, but a screen that saw the start
                    # elsewhere still gets the clear when it reconnects here.
                    frame = clear_frame(event.id, end.seq)
                    self._remember_end(event.id, _Ended(event.seq, end.seq, event.target, frame))
                    continue
                fanout = self._start(event)
            else:
                fanout = self._end(event)
            if fanout is not None:
                fanouts.append(fanout)
        return fanouts

    def load(self, snapshot: EmergencySnapshot) -> list[Fanout]:
        """Rebase on a snapshot from PostgreSQL: what started since is shown, what ended
        since is withdrawn, and every event up to ``snapshot.head`` counts as applied."""
        fanouts: list[Fanout] = []
        for ended in snapshot.ended:
            event = ended.ended()
            if event is None:
                continue
            live = self._active.pop(ended.id, None)
            if live is not None:
                frame = clear_frame(ended.id, event.seq)
                self._remember_end(ended.id, _Ended(ended.seq, event.seq, ended.target, frame))
                fanouts.append(Fanout(ended.id, event.seq, ended.target, frame, starts=False))
            elif ended.id not in self._ended:
                frame = clear_frame(ended.id, event.seq)
                self._remember_end(ended.id, _Ended(ended.seq, event.seq, ended.target, frame))
        still = {started.id for started in snapshot.active}
        for started in sorted(snapshot.active, key=lambda s: s.seq):
            fanout = self._start(started)
            if fanout is not None:
                fanouts.append(fanout)
        head = snapshot.head
        gone = [i for i, live in self._active.items() if i not in still and live.event.seq <= head]
        for emergency_id in gone:
            # Ended at or before the head, but the snapshot did not say how: withdraw it
            # under the head's number (screens only need the id).
            live = self._active.pop(emergency_id)
            target = live.event.target
            frame = clear_frame(emergency_id, head)
            self._remember_end(emergency_id, _Ended(live.event.seq, head, target, frame))
            fanouts.append(Fanout(emergency_id, head, target, frame, starts=False))
        self.seq = snapshot.head if self.seq is None else max(self.seq, snapshot.head)
        self.highest = max(self.highest, snapshot.head)
        self._ahead = {s for s in self._ahead if s > self.seq}
        self._advance()
        return fanouts

    # -- screens ---------------------------------------------------------------------------

    def opening(
        self, device_id: UUID, groups: Iterable[str], last_seq: int | None, now: datetime
    ) -> list[str]:
        """The frames a new session of this screen starts with, in sequence order: every
        active emergency targeting it that it has not seen (numbered above ``last_seq``),
        and a clear for each one it may have seen whose end it has not.

        A ``last_seq`` above anything this board heard of is not trusted (a screen that
        outlived a database restore, or a node that lags): the screen then gets every
        active emergency again, which it can tell from the ones it shows by their ids.
        """
        groups = tuple(groups)
        seen = last_seq if last_seq is not None and 0 <= last_seq <= self.highest else None
        frames: list[tuple[int, str]] = []
        for live in self._active.values():
            event = live.event
            unseen = seen is None or event.seq > seen
            if unseen and not event.expired(now) and event.target.includes(device_id, groups):
                frames.append((event.seq, live.frame))
        if seen is not None:
            for ended in self._ended.values():
                if (
                    ended.started_seq is not None
                    and ended.target is not None
                    and ended.frame
                    and ended.started_seq <= seen < ended.ended_seq
                    and ended.target.includes(device_id, groups)
                ):
                    frames.append((ended.ended_seq, ended.frame))
        frames.sort(key=lambda f: f[0])
        return [frame for _seq, frame in frames]

    def regrouped(
        self, device_id: UUID, before: Iterable[str], after: Iterable[str], now: datetime
    ) -> list[str]:
        """What a screen moved from groups ``before`` to ``after`` must be sent: the active
        emergencies that target it now and did not, and a clear for those that no longer
        target it (it will not hear their real clear)."""
        before, after = tuple(before), tuple(after)
        frames: list[tuple[int, str]] = []
        for live in self._active.values():
            event = live.event
            was = event.target.includes(device_id, before)
            now_in = event.target.includes(device_id, after)
            if now_in and not was and not event.expired(now):
                frames.append((event.seq, live.frame))
            elif was and not now_in:
                frames.append((event.seq, clear_frame(event.id, event.seq)))
        frames.sort(key=lambda f: f[0])
        return [frame for _seq, frame in frames]

    # -- internals -------------------------------------------------------------------------

    def _count(self, seq: int) -> bool:
        """Record ``seq`` as applied; False if it already was."""
        if (self.seq is not None and seq <= self.seq) or seq in self._ahead:
            return False
        self.highest = max(self.highest, seq)
        if len(self._ahead) < MAX_AHEAD:
            self._ahead.add(seq)
        self._advance()
        return True

    def _advance(self) -> None:
        if self.seq is None:
            return
        while self.seq + 1 in self._ahead:
            self.seq += 1
            self._ahead.discard(self.seq)

    def _start(self, event: EmergencyStarted) -> Fanout | None:
        if event.id in self._active or event.id in self._ended:
            return None
        live = _Live(event, event.frame())
        self._active[event.id] = live
        return Fanout(event.id, event.seq, event.target, live.frame, starts=True)

    def _end(self, event: EmergencyEnded) -> Fanout | None:
        live = self._active.pop(event.id, None)
        if live is None:
            if event.id not in self._ended:
                self._remember_end(event.id, _Ended(None, event.seq, None, ""))
            return None
        frame = clear_frame(event.id, event.seq)
        target = live.event.target
        self._remember_end(event.id, _Ended(live.event.seq, event.seq, target, frame))
        return Fanout(event.id, event.seq, target, frame, starts=False)

    def _remember_end(self, emergency_id: UUID, ended: _Ended) -> None:
        self._ended[emergency_id] = ended
        self._ended.move_to_end(emergency_id)
        while len(self._ended) > self._remember:
            self._ended.popitem(last=False)
