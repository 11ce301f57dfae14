"""How long one tenant's 24-hour timelines take: 5,000 screens, 200 schedule entries.

Run: ``.venv/bin/python -m bench.schedule_resolution [--devices N] [--schedules M]``

Two tenants are measured, both built from a fixed seed:

- *typical*: screens in four zones, each in one or two of 40 groups; entries mostly for
  groups, some for the whole tenant, some for hand-picked screens; windows, weekdays,
  date ranges and explicit zones mixed. Screens that see the same entries in the same
  zone share one computed timeline.
- *adversarial*: 150 entries each name 100 random screens, so nearly every screen sees a
  different set of entries and the grouping saves nothing.

Each figure is a cold run (wall-clock cache cleared, new book) — what a tenant actor pays
when a schedule changes — reported as the median and the worst of several runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time as clock
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

from actors.domain import wall_clock
from actors.domain.schedule_resolution import ScheduleBook
from actors.domain.schedule_types import DeviceProfile, ScheduleEntry
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget

ZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo")
GROUPS = tuple(f"group-{n}" for n in range(40))
# Straddles Berlin's and London's fall-back (2024-10-27) so DST handling is in the path.
START = datetime(2024, 10, 26, 18, tzinfo=UTC)


def devices(rng: random.Random, count: int) -> list[DeviceProfile]:
    return [
        DeviceProfile(
            id=UUID(int=n + 1),
            timezone=rng.choice(ZONES),
            groups=frozenset(rng.sample(GROUPS, rng.randint(1, 2))),
        )
        for n in range(count)
    ]


def entry(rng: random.Random, n: int, target: Target) -> ScheduleEntry:
    windowed = rng.random() < 0.7
    start_time = time(rng.randrange(24), rng.choice((0, 30))) if windowed else None
    end_time = time(rng.randrange(24), rng.choice((0, 30))) if windowed else None
    dated = rng.random() < 0.3
    return ScheduleEntry(
        id=UUID(int=10**9 + n),
        playlist_id=UUID(int=2 * 10**9 + n),
        target=target,
        priority=rng.randint(0, 10),
        created_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(10**5)),
        starts_at=START - timedelta(days=rng.randint(0, 3)) if dated else None,
        ends_at=START + timedelta(hours=rng.randint(1, 48)) if dated else None,
        days_of_week=frozenset(rng.sample(range(1, 8), rng.randint(1, 7)))
        if rng.random() < 0.4
        else None,
        start_time=start_time,
        end_time=end_time,
        timezone=rng.choice(ZONES) if rng.random() < 0.3 else None,
    )


def typical(rng: random.Random, screens: list[DeviceProfile], count: int) -> list[ScheduleEntry]:
    entries = []
    for n in range(count):
        kind = rng.random()
        if kind < 0.1:
            target: Target = TenantTarget()
        elif kind < 0.75:
            target = GroupTarget(frozenset(rng.sample(GROUPS, rng.randint(1, 3))))
        else:
            picked = rng.sample(screens, rng.randint(1, 20))
            target = DeviceTarget(frozenset(d.id for d in picked))
        entries.append(entry(rng, n, target))
    return entries


def adversarial(
    rng: random.Random, screens: list[DeviceProfile], count: int
) -> list[ScheduleEntry]:
    entries = []
    for n in range(count):
        if n < count // 4:
            target: Target = GroupTarget(frozenset(rng.sample(GROUPS, 2)))
        else:
            picked = rng.sample(screens, min(100, len(screens)))
            target = DeviceTarget(frozenset(d.id for d in picked))
        entries.append(entry(rng, n, target))
    return entries


def measure(
    screens: list[DeviceProfile], entries: list[ScheduleEntry], runs: int
) -> tuple[list[float], int, int]:
    timings = []
    distinct = slices = 0
    for _ in range(runs):
        wall_clock._first_instant.cache_clear()  # cold: as after a restart
        began = clock.perf_counter()
        book = ScheduleBook(entries)
        result = book.timelines(screens, START)
        timings.append(clock.perf_counter() - began)
        distinct = len({id(timeline) for timeline in result.values()})
        slices = sum(len(timeline) for timeline in result.values())
    return timings, distinct, slices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5_000)
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=20241026)
    args = parser.parse_args()
    print(
        f"{args.devices} devices, {args.schedules} schedule entries, 24 h horizon,"
        f" {args.runs} cold runs"
    )
    for name, build in (("typical", typical), ("adversarial", adversarial)):
        rng = random.Random(args.seed)
        screens = devices(rng, args.devices)
        entries = build(rng, screens, args.schedules)
        timings, distinct, slices = measure(screens, entries, args.runs)
        print(
            f"{name:12} median {statistics.median(timings) * 1000:7.1f} ms"
            f"  worst {max(timings) * 1000:7.1f} ms"
            f"  distinct timelines {distinct:5d}  slices {slices}"
        )


if __name__ == "__main__":
    main()
