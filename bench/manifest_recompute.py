"""Manifests after one schedule change: 5,000 screens, 200 schedules, 1,000 content items.

Run: ``.venv/bin/python -m bench.manifest_recompute [--devices N] [--runs R]``
(``BENCH_DATABASE_URL`` names the PostgreSQL server's maintenance database; a fresh
``signage_bench_*`` database is created, migrated and dropped).

The tenant is the *typical* one of ``bench/schedule_resolution.py`` (4 zones, 40 groups,
entries for the tenant, for groups and for hand-picked screens), stored in PostgreSQL with
1,000 approved content items in 100 playlists. One node is started in-process (actor
runtime, tenant actor, manifest feed) and every screen holds a session: a device actor
over an in-memory socket that notes when each manifest frame arrives.

Each round makes one schedule change through the schedules use case and then runs the
recomputation the node's feed would run, measuring:

- *change*: the use case (authorize, validate, insert, audit, commit) — the HTTP path;
- *recompute*: lock, read the tenant, plan every device in scope (worker thread), write
  the changed manifests, publish the notice;
- *push*: from the notice to the last affected screen holding its new frame (tenant
  actor → feed: one read of the new versions → each session's outbox → its socket);
- *total*: from the change to the last affected screen.

Rounds: a schedule for two groups (~10 % of screens) and a top-priority schedule for the
whole tenant (every screen changes), each added then deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import os
import random
import secrets
import statistics
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import msgspec
import psycopg
from psycopg import sql

from actors.domain.manifest_batch import DeviceScope
from actors.domain.principal import Principal
from actors.domain.rbac import Role
from actors.domain.schedule_types import DeviceProfile, ScheduleEntry
from actors.domain.targets import DeviceTarget, GroupTarget, TargetSpec
from actors.ports.sessions import SessionIdentity
from actors.services.manifest_feed import ManifestFeed
from actors.settings import Settings
from actors.usecases.manifests import ManifestPolicy, Manifests, Recomputed
from actors.usecases.schedules import CreateSchedule, Schedules
from bench.schedule_resolution import GROUPS, START, devices, typical
from edge.container import Container
from store.migrations import migrate

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONTENT_ITEMS = 1_000
PLAYLISTS = 100
ITEMS_PER_PLAYLIST = 12
WAIT_S = 30.0
OPENING_WAVE = 500
_FRAME_HEAD = '{"type":"manifest","version":'


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"signage_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def seed(
    url: str, tenant_id: UUID, screens: list[DeviceProfile], entries: list[ScheduleEntry]
) -> None:
    """Store the tenant as the owner would have it after months of use (bulk statements)."""
    author = uuid4()
    rng = random.Random(7)
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute(
            "INSERT INTO tenants (id, name, slug) VALUES (%s, 'Bench', 'bench')", (tenant_id,)
        )
        conn.execute(
            """
            INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id,
                                 registered_from, name, groups, timezone)
            SELECT d.id, %(tenant)s, 'approved', d.secret, 'hw-' || d.id, 'bench',
                   'Screen ' || d.id, d.groups::text[], d.zone
            FROM unnest(%(ids)s::uuid[], %(secrets)s::bytea[], %(groups)s::text[],
                        %(zones)s::text[]) AS d(id, secret, groups, zone)
            """,
            {
                "tenant": tenant_id,
                "ids": [s.id for s in screens],
                "secrets": [secret_digest(s.id) for s in screens],
                "groups": ["{" + ",".join(sorted(s.groups)) + "}" for s in screens],
                "zones": [s.timezone for s in screens],
            },
        )
        content = [uuid4() for _ in range(CONTENT_ITEMS)]
        images = {c for c in content if rng.random() < 0.3}
        conn.execute(
            """
            INSERT INTO content (id, tenant_id, kind, state, revision, live_revision,
                                 submitted_by, created_by)
            SELECT c.id, %(tenant)s, c.kind, 'approved', 1, 1, %(author)s, %(author)s
            FROM unnest(%(ids)s::uuid[], %(kinds)s::text[]) AS c(id, kind)
            """,
            {
                "tenant": tenant_id,
                "author": author,
                "ids": content,
                "kinds": ["image" if c in images else "text" for c in content],
            },
        )
        conn.execute(
            """
            INSERT INTO content_revisions (tenant_id, content_id, number, kind, name, duration_s,
                                           body, media_sha256, media_type, media_size,
                                           created_by, submitted_by, submitted_at, decision,
                                           decided_by, decided_at)
            SELECT %(tenant)s, c.id, 1, c.kind, 'Item ' || c.id, 10 + c.n %% 20,
                   CASE WHEN c.kind = 'text' THEN repeat('Welcome to the building. ', 8) END,
                   CASE WHEN c.kind = 'image' THEN encode(sha256(c.id::text::bytea), 'hex') END,
                   CASE WHEN c.kind = 'image' THEN 'image/png' END,
                   CASE WHEN c.kind = 'image' THEN 250000 END,
                   %(author)s, %(author)s, now(), 'approved', %(approver)s, now()
            FROM unnest(%(ids)s::uuid[], %(kinds)s::text[]) WITH ORDINALITY AS c(id, kind, n)
            """,
            {
                "tenant": tenant_id,
                "author": author,
                "approver": uuid4(),
                "ids": content,
                "kinds": ["image" if c in images else "text" for c in content],
            },
        )
        playlists = [uuid4() for _ in range(PLAYLISTS)]
        conn.execute(
            """
            INSERT INTO playlists (id, tenant_id, name, created_by)
            SELECT p, %(tenant)s, 'Playlist ' || p, %(author)s FROM unnest(%(ids)s::uuid[]) AS p
            """,
            {"tenant": tenant_id, "author": author, "ids": playlists},
        )
        rows = [
            (playlist, position, item)
            for playlist in playlists
            for position, item in enumerate(rng.sample(content, ITEMS_PER_PLAYLIST))
        ]
        conn.execute(
            """
            INSERT INTO playlist_items (tenant_id, playlist_id, position, content_id)
            SELECT %(tenant)s, i.playlist, i.position, i.content
            FROM unnest(%(playlists)s::uuid[], %(positions)s::int[], %(contents)s::uuid[])
                 AS i(playlist, position, content)
            """,
            {
                "tenant": tenant_id,
                "playlists": [r[0] for r in rows],
                "positions": [r[1] for r in rows],
                "contents": [r[2] for r in rows],
            },
        )
        for entry in entries:
            target = entry.target
            conn.execute(
                """
                INSERT INTO schedules (id, tenant_id, playlist_id, target_scope, target_groups,
                                       target_device_ids, priority, starts_at, ends_at,
                                       days_of_week, start_time, end_time, timezone,
                                       created_by, created_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                (
                    entry.id,
                    tenant_id,
                    rng.choice(playlists),
                    target.__struct_config__.tag,
                    sorted(target.groups) if isinstance(target, GroupTarget) else [],
                    sorted(target.device_ids) if isinstance(target, DeviceTarget) else [],
                    entry.priority,
                    entry.starts_at,
                    entry.ends_at,
                    None if entry.days_of_week is None else sorted(entry.days_of_week),
                    entry.start_time,
                    entry.end_time,
                    entry.timezone,
                    author,
                    entry.created_at,
                ),
            )
        conn.commit()


def secret_digest(device_id: UUID) -> bytes:
    """The stored secret hash of a bench screen (sessions are reconciled against it)."""
    return hashlib.sha256(device_id.bytes).digest()


@dataclass
class Arrivals:
    """Counts screens that received a manifest frame of ``version`` (or newer).

    Armed with the version *before* the change (frames may arrive before the
    recomputation returns); told how many screens to expect once it is known."""

    version: int = 0
    expected: int | None = None
    reached: int = 0
    last: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def arm(self, version: int) -> None:
        self.version, self.expected, self.reached, self.last = version, None, 0, 0.0
        self.done = asyncio.Event()

    def expect(self, count: int) -> None:
        self.expected = count
        self.check()

    def check(self) -> None:
        if self.expected is not None and self.reached >= self.expected:
            self.done.set()


class BenchSocket:
    """A screen's socket: notes each manifest version it receives."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.version = 0

    def send_nowait(self, frame: str) -> bool:
        self._note(frame)
        return True  # in memory: always takes the frame at once

    async def send(self, frame: str) -> None:
        self._note(frame)

    def _note(self, frame: str) -> None:
        if not frame.startswith(_FRAME_HEAD):
            return
        version = int(frame[len(_FRAME_HEAD) : frame.index(",", len(_FRAME_HEAD))])
        arrivals = self.arrivals
        if self.version < arrivals.version <= version:
            arrivals.reached += 1
            arrivals.last = time.perf_counter()
            arrivals.check()
        self.version = version

    def farewell_nowait(self, frame: str, code: int, reason: str) -> bool:
        return True  # in memory: nothing to wait for

    async def close(self, code: int, reason: str) -> None:
        return None


class RefreshRecorder:
    """Stands in for the feed behind the use case: the bench runs the recomputation itself
    to time it apart."""

    def __init__(self) -> None:
        self.scopes: list[DeviceScope] = []

    def refresh(self, tenant_id: UUID, scope: DeviceScope) -> None:
        self.scopes.append(scope)


@dataclass
class Round:
    name: str
    change_s: float
    recompute: Recomputed
    push_s: float
    total_s: float


class _SingleNode:
    """No other node to tell (the benchmark runs one)."""

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        return True


async def one_round(
    name: str,
    change: Awaitable[object],
    manifests: Manifests,
    feed: ManifestFeed,
    recorder: RefreshRecorder,
    tenant_id: UUID,
    arrivals: Arrivals,
) -> Round:
    arrivals.arm(arrivals.version + 1)  # every round changes some manifests
    began = time.perf_counter()
    await change
    changed = time.perf_counter()
    result = await manifests.recompute(tenant_id, recorder.scopes.pop())
    recomputed = time.perf_counter()
    feed.push(tenant_id, result.frames)  # what the node's feed does with what it computed
    assert result.version == arrivals.version, (result.version, arrivals.version)
    arrivals.expect(result.changed)
    await asyncio.wait_for(arrivals.done.wait(), WAIT_S)
    last = arrivals.last or recomputed
    return Round(
        name=name,
        change_s=changed - began,
        recompute=result,
        push_s=max(0.0, last - recomputed),
        total_s=last - began,
    )


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    screens = devices(rng, args.devices)
    entries = typical(rng, screens, args.schedules)
    tenant_id = uuid4()
    with scratch_database() as url:
        await migrate(url)
        started = time.perf_counter()
        seed(url, tenant_id, screens, entries)
        print(
            f"seeded {args.devices} screens, {args.schedules} schedules, {CONTENT_ITEMS} content"
            f" items in {PLAYLISTS} playlists in {time.perf_counter() - started:.1f}s"
        )
        settings = Settings.of(
            env="test",
            database_url=url,
            jwt_secret="bench-" + "x" * 40,
            node_id="bench",
            manifest_tick_s=3600.0,
            db_pool_max=10,
        )
        container = Container.build(settings, url)
        await container.start()
        try:
            await measure(container, tenant_id, screens, args)
        finally:
            await container.stop()


async def measure(
    container: Container, tenant_id: UUID, screens: list[DeviceProfile], args: argparse.Namespace
) -> None:
    # Planned as of the schedules' own week (DST change included), like the resolution bench.
    now = START + timedelta(minutes=7)
    manifests = Manifests(
        container.store,
        _SingleNode(),
        ManifestPolicy.from_settings(container.settings),
        clock=lambda: now,
    )
    cold = await manifests.recompute(tenant_id, DeviceScope.all())
    print(
        f"cold full recompute: {cold.devices} devices, {cold.distinct_timelines} distinct"
        f" timelines, plan {cold.plan_s * 1000:.0f} ms, total {cold.total_s * 1000:.0f} ms"
    )
    arrivals = Arrivals()
    began = time.perf_counter()
    # Screens connect in waves (a real storm is paced by the network and the upgrade): a
    # tenant actor queues at most its mailbox's worth of registrations at once.
    for wave in range(0, len(screens), OPENING_WAVE):
        arrivals.arm(cold.version or 0)
        batch = screens[wave : wave + OPENING_WAVE]
        for screen in batch:
            identity = SessionIdentity(
                device_id=screen.id,
                tenant_id=tenant_id,
                groups=tuple(sorted(screen.groups)),
                timezone=screen.timezone,
                secret_digest=secret_digest(screen.id),
            )
            container.sessions.open(identity, BenchSocket(arrivals), last_seq=None)
        arrivals.expect(len(batch))
        await asyncio.wait_for(arrivals.done.wait(), WAIT_S)
    print(
        f"{len(screens)} sessions opened with their manifest in"
        f" {(arrivals.last - began) * 1000:.0f} ms, in waves of {OPENING_WAVE}"
    )
    gc.collect()
    gc.freeze()  # PERF-NOTES: keep full collections of the session heap out of the figures

    recorder = RefreshRecorder()
    schedules = Schedules(container.store, recorder, container.settings)
    who = Principal(
        user_id=uuid4(),
        tenant_id=tenant_id,
        email="bench@example.test",
        roles=frozenset({Role.SCHEDULER}),
    )
    playlist = await first_playlist(container, tenant_id)
    rounds: list[Round] = []
    for run_number in range(args.runs):
        groups = sorted(random.Random(run_number).sample(GROUPS, 2))
        for name, target, priority in (
            ("two groups", TargetSpec(groups=groups), 11),
            ("whole tenant", TargetSpec(all=True), 12),
        ):
            cmd = CreateSchedule(playlist_id=playlist, target=target, priority=priority)
            added = await one_round(
                f"add: {name}",
                schedules.create(who, tenant_id, cmd),
                manifests,
                container.manifest_feed,
                recorder,
                tenant_id,
                arrivals,
            )
            schedule_id = await newest_schedule(container, tenant_id)
            removed = await one_round(
                f"delete: {name}",
                schedules.delete(who, tenant_id, schedule_id),
                manifests,
                container.manifest_feed,
                recorder,
                tenant_id,
                arrivals,
            )
            rounds.extend((added, removed))
    report(rounds)


async def first_playlist(container: Container, tenant_id: UUID) -> UUID:
    async with container.store.tenant(tenant_id) as tx:
        return (await tx.playlists.list(tenant_id))[0].id


async def newest_schedule(container: Container, tenant_id: UUID) -> UUID:
    async with container.store.tenant(tenant_id) as tx:
        return (await tx.schedules.list(tenant_id))[-1].entry.id


def report(rounds: list[Round]) -> None:
    print(
        f"{'change':22} {'changed':>8} {'use case':>9} {'recompute':>10} {'(plan)':>8}"
        f" {'push':>8} {'total':>8}   median over runs (worst)"
    )
    for name in dict.fromkeys(r.name for r in rounds):
        mine = [r for r in rounds if r.name == name]

        def fmt(values: list[float]) -> str:
            return f"{statistics.median(values) * 1000:5.0f} ({max(values) * 1000:4.0f})"

        print(
            f"{name:22} {mine[0].recompute.changed:8d}"
            f" {fmt([r.change_s for r in mine]):>9}"
            f" {fmt([r.recompute.total_s for r in mine]):>10}"
            f" {fmt([r.recompute.plan_s for r in mine]):>8}"
            f" {fmt([r.push_s for r in mine]):>8}"
            f" {fmt([r.total_s for r in mine]):>8} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5_000)
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20241026)
    args = parser.parse_args()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
