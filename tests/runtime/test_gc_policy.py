"""The node's garbage-collection policy: the heap is frozen while a reconnect storm opens
sessions (not only once they have settled), and ended sessions' cycles are reclaimed
before it is frozen again."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from actors.metrics import MetricsRegistry
from actors.services.gc_policy import GcPolicy


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Cycle:
    """A reference cycle: only the cyclic collector can reclaim it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests run on an ordinary heap


def _policy(count: list[int], clock: _Clock, *, settle_s: float = 10.0) -> GcPolicy:
    return GcPolicy(lambda: count[0], MetricsRegistry(), settle_s=settle_s, clock=clock)


def test_a_storm_is_frozen_while_it_opens(unfrozen: None) -> None:
    count, clock = [0], _Clock()
    policy = _policy(count, clock)
    policy.check()  # first look: nothing to compare with
    assert policy.freezes == 0
    for opened in (400, 900, 1_500):  # a second apart, far from settled
        count[0] = opened
        clock.now += 1.0
        policy.check()
        assert policy.frozen_at == opened
        assert gc.get_freeze_count() > 0  # what the sessions hold is frozen now
    assert policy.freezes == 3
    # A trickle is not a storm: frozen again only once settled, as before.
    count[0] = 1_510
    clock.now += 1.0
    policy.check()
    assert policy.freezes == 3


def test_automatic_full_collections_are_held_off_during_a_storm_only(unfrozen: None) -> None:
    shipped = gc.get_threshold()
    count, clock = [0], _Clock()
    policy = _policy(count, clock)
    try:
        policy.check()
        count[0] = 500
        clock.now += 1.0
        policy.check()
        assert policy.in_storm
        assert gc.get_threshold()[:2] == shipped[:2]  # the young generations as shipped
        assert gc.get_threshold()[2] > 1000 * shipped[2]
        clock.now += 1.0
        policy.check()  # no more opening: the storm is over
        assert not policy.in_storm
        assert gc.get_threshold() == shipped
    finally:
        gc.set_threshold(*shipped)


def test_a_trickle_waits_for_the_count_to_settle(unfrozen: None) -> None:
    count, clock = [100], _Clock()
    policy = _policy(count, clock)
    policy.check()
    count[0] = 130  # fewer than GROWING more: not a storm
    clock.now += 1.0
    policy.check()
    assert policy.freezes == 0
    clock.now += 9.0
    policy.check()
    assert policy.freezes == 0  # steady for 9 s of 10
    clock.now += 1.5
    policy.check()
    assert (policy.freezes, policy.frozen_at) == (1, 130)


def test_ended_sessions_are_reclaimed_before_the_next_freeze(unfrozen: None) -> None:
    count, clock = [0], _Clock()
    policy = _policy(count, clock)
    policy.check()
    session = _Cycle()
    gone = weakref.ref(session)
    count[0] = 1_000
    clock.now += 1.0
    policy.check()  # storm: the session's cycle is frozen with the heap
    assert policy.freezes == 1
    del session
    gc.collect()
    assert gone() is not None  # frozen: collections do not walk it
    # A blip: every screen drops and comes back between two checks of the count...
    count[0] = 100
    clock.now += 1.0
    policy.check()
    count[0] = 1_000
    clock.now += 1.0
    policy.check()  # ...the storm that follows unfreezes and collects first
    assert policy.reclaims == 1
    assert gone() is None
    assert policy.frozen_at == 1_000


def test_settle_zero_never_freezes(unfrozen: None) -> None:
    count, clock = [0], _Clock()
    policy = _policy(count, clock, settle_s=0.0)
    for opened in (0, 1_000, 5_000):
        count[0] = opened
        clock.now += 1.0
        policy.check()
    assert policy.freezes == 0
    assert gc.get_freeze_count() == 0


def test_nothing_is_frozen_or_collected_while_collections_are_off(unfrozen: None) -> None:
    """A stopping node sets collections off for its drain: the policy holds off."""
    count, clock = [0], _Clock()
    policy = _policy(count, clock)
    policy.check()
    gc.disable()
    try:
        for opened in (400, 900, 1_500):  # would freeze at every check
            count[0] = opened
            clock.now += 1.0
            policy.check()
    finally:
        gc.enable()
    assert policy.freezes == 0
    assert gc.get_freeze_count() == 0
