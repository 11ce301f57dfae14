"""The emergency board (pure): sequence accounting, idempotence, catch-up, openings and
regrouping — examples, then properties over arbitrary losses, repeats and reorderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.domain.emergencies import (
    Emergency,
    EmergencyEnded,
    EmergencyEvent,
    EmergencySnapshot,
    EmergencyStarted,
)
from actors.domain.emergency_board import EmergencyBoard
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TargetSpec, TenantTarget
from actors.errors import Invalid

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EVERYONE = TenantTarget()
LOBBY = GroupTarget(frozenset({"lobby"}))
SCREEN = uuid4()


def started(seq: int, target: Target = EVERYONE, **kw: object) -> EmergencyStarted:
    values: dict[str, object] = {
        "id": uuid4(),
        "seq": seq,
        "message": f"m{seq}",
        "severity": "critical",
        "target": target,
        "started_at": NOW,
        "expires_at": None,
    }
    values.update(kw)
    return EmergencyStarted(**values)  # type: ignore[arg-type]


def ended(start: EmergencyStarted, seq: int) -> EmergencyEnded:
    return EmergencyEnded(id=start.id, seq=seq, reason="cleared")


def record(start: EmergencyStarted, end: EmergencyEnded | None = None) -> Emergency:
    return Emergency(
        id=start.id,
        tenant_id=uuid4(),
        seq=start.seq,
        message=start.message,
        severity=start.severity,
        target=start.target,
        targeted=1,
        started_at=start.started_at,
        expires_at=start.expires_at,
        started_by="user:x",
        ended_at=None if end is None else NOW,
        ended_seq=None if end is None else end.seq,
        end_reason=None if end is None else end.reason,
        ended_by=None if end is None else "user:y",
    )


def loaded(head: int = 0, *active: EmergencyStarted) -> EmergencyBoard:
    board = EmergencyBoard()
    board.load(EmergencySnapshot(head=head, active=active, ended=()))
    return board


def frame_of(text: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(text)
    return decoded


# -- targets -------------------------------------------------------------------------------


def test_target_spec_resolves_exactly_one_kind() -> None:
    assert TargetSpec(all=True).resolve() == EVERYONE
    assert TargetSpec(groups=["a", "b", "a"]).resolve() == GroupTarget(frozenset({"a", "b"}))
    device = uuid4()
    assert TargetSpec(device_ids=[device]).resolve() == DeviceTarget(frozenset({device}))


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (TargetSpec(), "target"),
        (TargetSpec(all=True, groups=["a"]), "target"),
        (TargetSpec(all=False), "target.all"),
        (TargetSpec(groups=[]), "target.groups"),
        (TargetSpec(device_ids=[]), "target.device_ids"),
    ],
)
def test_target_spec_refuses_none_or_several_kinds(spec: TargetSpec, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        spec.resolve()
    assert refused.value.field == field


def test_target_includes() -> None:
    assert EVERYONE.includes(SCREEN, ())
    assert LOBBY.includes(SCREEN, ("lobby", "hall"))
    assert not LOBBY.includes(SCREEN, ("hall",))
    assert DeviceTarget(frozenset({SCREEN})).includes(SCREEN, ())
    assert not DeviceTarget(frozenset({uuid4()})).includes(SCREEN, ("lobby",))


def test_target_spec_round_trips() -> None:
    for spec in (TargetSpec(all=True), TargetSpec(groups=["a"]), TargetSpec(device_ids=[SCREEN])):
        assert TargetSpec.of(spec.resolve()) == spec


# -- events --------------------------------------------------------------------------------


def test_a_start_fans_out_one_frame_once() -> None:
    board = loaded()
    start = started(1)
    fanout = board.apply(start)
    assert fanout is not None
    assert fanout.starts
    assert fanout.target == EVERYONE
    assert frame_of(fanout.frame) == {
        "type": "emergency",
        "id": str(start.id),
        "seq": 1,
        "message": "m1",
        "severity": "critical",
        "started_at": "2026-03-01T12:00:00Z",
        "expires_at": None,
        "mode": "live",
    }
    assert board.apply(start) is None
    assert board.seq == 1
    assert not board.has_gap


def test_an_end_fans_out_a_clear_to_the_emergencys_target() -> None:
    board = loaded()
    start = started(1, LOBBY)
    board.apply(start)
    fanout = board.apply(ended(start, 2))
    assert fanout is not None
    assert not fanout.starts
    assert fanout.target == LOBBY
    assert frame_of(fanout.frame) == {"type": "emergency_clear", "id": str(start.id), "seq": 2}
    assert board.active_ids() == []


def test_a_skipped_number_is_a_gap_until_filled() -> None:
    board = loaded()
    one, three = started(1), started(3)
    board.apply(one)
    assert board.apply(three) is not None  # shown at once: never wait for the hole
    assert board.has_gap
    assert board.seq == 1
    two = started(2)
    assert board.catch_up([two, three]) != []
    assert not board.has_gap
    assert board.seq == 3


def test_an_end_overtaking_its_start_leaves_a_tombstone() -> None:
    board = loaded()
    start = started(1)
    assert board.apply(ended(start, 2)) is None
    assert board.apply(start) is None
    assert board.seq == 2
    assert board.active_ids() == []


def test_catch_up_shows_nothing_of_an_emergency_over_within_the_batch() -> None:
    board = loaded()
    start = started(1)
    assert board.catch_up([start, ended(start, 2)]) == []
    assert board.seq == 2


def test_an_unloaded_board_applies_events_and_counts_them_after_load() -> None:
    board = EmergencyBoard()
    assert board.has_gap
    start = started(5)
    assert board.apply(start) is not None
    board.load(EmergencySnapshot(head=5, active=(start,), ended=()))
    assert board.seq == 5
    assert not board.has_gap
    assert board.active_ids() == [start.id]


def test_load_withdraws_what_ended_meanwhile() -> None:
    board = EmergencyBoard()
    start = started(1)
    board.apply(start)
    fanouts = board.load(
        EmergencySnapshot(head=2, active=(), ended=(record(start, ended(start, 2)),))
    )
    assert [frame_of(f.frame)["type"] for f in fanouts] == ["emergency_clear"]
    assert board.active_ids() == []


def test_a_catch_up_is_due_unless_the_position_is_postgresqls_head() -> None:
    position = loaded(3).position()
    assert position.due(4)  # behind
    assert not position.due(3)
    assert position.due(2)  # ahead: PostgreSQL went back in time (a restore)
    assert EmergencyBoard().position().due(0)  # no snapshot yet


# -- openings ------------------------------------------------------------------------------


def test_opening_sends_unseen_active_emergencies_targeting_the_screen() -> None:
    everyone, lobby, hall = (
        started(1),
        started(2, LOBBY),
        started(3, GroupTarget(frozenset({"hall"}))),
    )
    board = loaded(3, everyone, lobby, hall)
    frames = [frame_of(f)["id"] for f in board.opening(SCREEN, ("lobby",), None, NOW)]
    assert frames == [str(everyone.id), str(lobby.id)]
    assert [frame_of(f)["id"] for f in board.opening(SCREEN, ("lobby",), 1, NOW)] == [str(lobby.id)]
    assert board.opening(SCREEN, ("lobby",), 3, NOW) == []


def test_opening_clears_what_ended_after_the_screens_last_seq() -> None:
    board = loaded()
    start = started(1)
    board.apply(start)
    board.apply(ended(start, 2))
    assert [frame_of(f) for f in board.opening(SCREEN, (), 1, NOW)] == [
        {"type": "emergency_clear", "id": str(start.id), "seq": 2}
    ]
    assert board.opening(SCREEN, (), 2, NOW) == []
    assert board.opening(SCREEN, (), None, NOW) == []


def test_opening_distrusts_a_last_seq_from_the_future() -> None:
    start = started(1)
    board = loaded(1, start)
    assert len(board.opening(SCREEN, (), 99, NOW)) == 1
    assert len(board.opening(SCREEN, (), -1, NOW)) == 1


def test_opening_skips_expired_emergencies() -> None:
    stale = started(1, expires_at=NOW - timedelta(seconds=1))
    board = loaded(1, stale)
    assert board.opening(SCREEN, (), None, NOW) == []


def test_regrouping_shows_and_withdraws_group_emergencies() -> None:
    lobby = started(1, LOBBY)
    board = loaded(1, lobby)
    [shown] = board.regrouped(SCREEN, (), ("lobby",), NOW)
    assert frame_of(shown)["type"] == "emergency"
    [withdrawn] = board.regrouped(SCREEN, ("lobby",), ("hall",), NOW)
    assert frame_of(withdrawn) == {"type": "emergency_clear", "id": str(lobby.id), "seq": 1}
    assert board.regrouped(SCREEN, ("hall",), ("office",), NOW) == []


# -- properties ----------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[EmergencyEvent]:
    """A tenant's outbox: starts and ends, numbered 1..n, each end after its start."""
    events: list[EmergencyEvent] = []
    live: list[EmergencyStarted] = []
    for seq in range(1, draw(st.integers(1, 25)) + 1):
        close_one: bool = draw(st.booleans())
        if live and close_one:
            start = live.pop(draw(st.integers(0, len(live) - 1)))
            events.append(ended(start, seq))
        else:
            start = started(seq, id=UUID(int=seq))
            live.append(start)
            events.append(start)
    return events


@settings(max_examples=300, deadline=None)
@given(data=st.data(), history=histories())
def test_whatever_the_relay_does_a_catch_up_converges_and_nothing_shows_twice(
    data: st.DataObject, history: list[EmergencyEvent]
) -> None:
    """Deliver a lossy, repeating, reordering prefix of the history live, then catch up
    from the outbox: each start and each end is fanned out at most once, an end never
    precedes its start's fan-out, and the board ends with exactly the active set."""
    board = loaded()
    heard = data.draw(st.lists(st.sampled_from(history), max_size=40))
    fanouts = [f for e in heard if (f := board.apply(e)) is not None]
    cut = data.draw(st.integers(0, len(history)))
    fanouts += board.catch_up(history[:cut])
    fanouts += board.catch_up(history)
    starts = [f.emergency_id for f in fanouts if f.starts]
    ends = [f.emergency_id for f in fanouts if not f.starts]
    assert len(starts) == len(set(starts))
    assert len(ends) == len(set(ends))
    assert set(ends) <= set(starts)  # a clear only for what this board showed
    position = {(f.emergency_id, f.starts): i for i, f in enumerate(fanouts)}
    for emergency_id in ends:
        assert position[(emergency_id, True)] < position[(emergency_id, False)]
    still = {e.id for e in history if isinstance(e, EmergencyStarted)} - {
        e.id for e in history if isinstance(e, EmergencyEnded)
    }
    assert set(board.active_ids()) == still
    assert board.seq == len(history)
    assert not board.has_gap
