"""The GC policy as the node runs it (actors/services/gc_policy.py): as a service it reports
every collection and leaves the interpreter's hooks as it found them; once settled it
freezes the heap again only when the count has really moved, and reclaims only after a
fall below half. Driven through the public API with a fake clock and session count,
asserting on the gc state it changes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import anyio
import pytest

from actors.metrics import MetricsRegistry
from actors.services.gc_policy import GcPolicy
from tests.waiting import eventually


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests run on an ordinary heap


def _settled(policy: GcPolicy, clock: _Clock, count: list[int], sessions: int) -> None:
    """The count moves to ``sessions`` and then holds still for longer than ``settle_s``."""
    count[0] = sessions
    clock.now += 1.0
    policy.check()
    clock.now += 11.0
    policy.check()


def test_bad_settings_are_refused() -> None:
    for kwargs in ({"settle_s": -1.0}, {"settle_s": 1.0, "check_every_s": 0.0}):
        with pytest.raises(ValueError, match="settle_s >= 0"):
            GcPolicy(lambda: 0, MetricsRegistry(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="growing >= 1"):
        GcPolicy(lambda: 0, MetricsRegistry(), settle_s=1.0, growing=0)


def test_settled_counts_refreeze_only_when_moved_and_reclaim_only_below_half(
    unfrozen: None,
) -> None:
    count, clock, metrics = [0], _Clock(), MetricsRegistry()
    policy = GcPolicy(lambda: count[0], metrics, settle_s=10.0, growing=10_000, clock=clock)
    assert metrics.sample("signage_gc_frozen_sessions") == -1
    policy.check()
    _settled(policy, clock, count, 1_000)
    assert (policy.freezes, policy.frozen_at, policy.reclaims) == (1, 1_000, 0)
    assert gc.get_freeze_count() > 0
    assert metrics.sample("signage_gc_frozen_sessions") == 1_000
    assert metrics.sample("signage_gc_freezes_total") == 1
    assert metrics.sample("signage_gc_frozen_objects") == gc.get_freeze_count()
    counted = gc.get_freeze_count()
    kept = [[n] for n in range(1_000)]
    gc.freeze()  # not the policy's: the count is not walked again per scrape
    assert gc.get_freeze_count() > counted
    assert metrics.sample("signage_gc_frozen_objects") == counted
    _settled(policy, clock, count, 1_030)  # within 5%: already frozen at about this count
    assert policy.freezes == 1
    _settled(policy, clock, count, 700)  # moved, but not below half: refrozen, no reclaim
    assert (policy.freezes, policy.frozen_at, policy.reclaims) == (2, 700, 0)
    assert metrics.sample("signage_gc_frozen_objects") == gc.get_freeze_count()  # recounted
    del kept
    _settled(policy, clock, count, 300)  # below half of 700: unfreeze, collect, refreeze
    assert (policy.freezes, policy.frozen_at, policy.reclaims) == (3, 300, 1)
    assert gc.get_freeze_count() > 0
    assert metrics.sample("signage_gc_frozen_sessions") == 300


@pytest.mark.anyio
@pytest.mark.mock_clock
async def test_the_service_reports_each_collection_and_unhooks_when_stopped(
    unfrozen: None,
) -> None:
    metrics = MetricsRegistry()
    policy = GcPolicy(lambda: 0, metrics, settle_s=0.0, check_every_s=0.01)
    hooks = list(gc.callbacks)
    async with anyio.create_task_group() as tg:
        await tg.start(policy.run)
        assert len(gc.callbacks) == len(hooks) + 1
        gc.collect(0)
        gc.collect()
        young = metrics.sample("signage_gc_pause_seconds_count", generation="0")
        full = metrics.sample("signage_gc_pause_seconds_count", generation="2")
        assert young is not None
        assert young >= 1
        assert full is not None
        assert full >= 1
        policy.stop()
    assert gc.callbacks == hooks  # the hook is gone with the service
    assert policy.freezes == 0  # settle_s=0 only records pauses
    before = metrics.sample("signage_gc_pause_seconds_count", generation="2")
    gc.collect()
    assert metrics.sample("signage_gc_pause_seconds_count", generation="2") == before


@pytest.mark.anyio
@pytest.mark.mock_clock
async def test_the_service_checks_the_count_every_interval(unfrozen: None) -> None:
    count, clock = [0], _Clock()
    policy = GcPolicy(lambda: count[0], MetricsRegistry(), settle_s=10.0, clock=clock)
    async with anyio.create_task_group() as tg:
        await tg.start(policy.run)
        count[0] = 5_000  # a storm opens: frozen at the next check, without being asked
        clock.now += 1.0
        await eventually(lambda: policy.frozen_at == 5_000, timeout_s=5.0)
        policy.stop()
    assert policy.freezes == 1
