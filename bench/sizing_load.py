"""What 10,000 screens cost PostgreSQL and Redis: the batched statements a node writes
for them, timed on the real repositories against a fresh database, and the presence
refresh, timed on the real adapter against a private ``redis-server`` (the sizing model in
docs/operations.md is built from these figures).

Per round, for N screens of one tenant:

- ``last_seen``: one ``record_last_seen`` of N sessions (a node writes it every
  ``LAST_SEEN_FLUSH_S``, 30 s, for the sessions seen since: with heartbeats every 30 s,
  all of them);
- ``health``: one ``record_health`` of N statuses (every ``FLEET_STATUS_FLUSH_S``, 10 s,
  for the screens that reported since: with a status in every heartbeat, N per 30 s);
- ``acks``: ``record_acks`` of N acknowledgements of one emergency, in batches of
  ``--ack-batch`` (what arrives within one ``EMERGENCY_ACK_FLUSH_S`` on one node).

Each reports the median and worst wall time over the rounds and the WAL it generated
(what a standby receives, synchronously or not). Then ``presence``: one
``RedisPresence.publish`` of N sessions (every node re-announces all its sessions every
2 s: one ``SET ... EX`` per session, pipelined 1,000 at a time), with the Redis server's
CPU time and memory for the keys. Usage::

    .venv/bin/python -m bench.sizing_load                # 10,000 screens, 5 rounds
    .venv/bin/python -m bench.sizing_load --screens 20000 --rounds 3 --ack-batch 2000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import psycopg
import redis

from actors.domain.emergencies import EmergencyAck
from actors.domain.fleet import DeviceHealth, StatusReport
from actors.domain.targets import EVERYONE
from bench.emergency_setup import BenchDatabase, PrivateRedis, _seed
from store.db import Database
from store.presence_redis import RedisPresence
from store.redis_client import connect
from store.uow import Store

NODE = "bench-node"


def _tenant(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO tenants (name, slug) VALUES ('Load', 'load') RETURNING id"
        ).fetchone()
    assert row is not None
    return str(row[0])


def _wal_bytes(url: str, since: str) -> tuple[int, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint,"
            " pg_current_wal_lsn()::text",
            (since,),
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


async def _measure(
    url: str, rounds: int, step: Callable[[int], Awaitable[int]]
) -> tuple[list[float], list[int], int]:
    times, wal, rows = [], [], 0
    _, lsn = _wal_bytes(url, "0/0")
    for n in range(rounds):
        started = time.perf_counter()
        rows = await step(n)
        times.append((time.perf_counter() - started) * 1000)
        grown, lsn = _wal_bytes(url, lsn)
        wal.append(grown)
    return times, wal, rows


async def run(screens: int, rounds: int, ack_batch: int) -> None:
    with BenchDatabase() as url:
        tenant = uuid.UUID(_tenant(url))
        device_ids = [uuid.UUID(d) for d in _seed(url, str(tenant), screens)[0]]
        db = Database(url, min_size=1, max_size=2, application_name="bench:pg_load")
        await db.open(wait=True)
        store = Store(db)
        try:
            emergencies = []
            for n in range(rounds):
                async with store.tenant(tenant) as tx:
                    emergencies.append(
                        await tx.emergencies.start(
                            emergency_id=uuid.uuid4(),
                            tenant_id=tenant,
                            message=f"Load {n}",
                            severity="critical",
                            target=EVERYONE,
                            expires_in_s=None,
                            started_by="bench",
                        )
                    )

            async def last_seen(_: int) -> int:
                now = datetime.now(UTC)
                async with store.platform() as tx:
                    return await tx.devices.record_last_seen([(d, now, NODE) for d in device_ids])

            async def health(n: int) -> int:
                now = datetime.now(UTC)
                reports = [
                    StatusReport(
                        tenant_id=tenant,
                        device_id=d,
                        health=DeviceHealth(
                            reported_at=now,
                            node_id=NODE,
                            app_version="2.4.1",
                            uptime_s=3600.0 + n * 30,
                            display_on=True,
                            free_storage_bytes=12_000_000_000,
                            playing="playlist:lobby",
                            manifest_version=7,
                        ),
                    )
                    for d in device_ids
                ]
                async with store.platform() as tx:
                    return await tx.fleet.record_health(reports)

            async def acks(n: int) -> int:
                now = datetime.now(UTC)
                stored = 0
                for start in range(0, screens, ack_batch):
                    batch = [
                        EmergencyAck(tenant, d, emergencies[n].id, now, NODE)
                        for d in device_ids[start : start + ack_batch]
                    ]
                    async with store.platform() as tx:
                        stored += len(await tx.emergencies.record_acks(batch))
                return stored

            print(
                f"{screens:,} screens, {rounds} rounds, acks in batches of {ack_batch:,}"
                " (median / worst wall ms, WAL per round)"
            )
            print("| statement | rows | median ms | worst ms | WAL KiB | WAL bytes / row |")
            print("|---|---:|---:|---:|---:|---:|")
            for name, step in (("last_seen", last_seen), ("health", health), ("acks", acks)):
                times, wal, rows = await _measure(url, rounds, step)
                kib = statistics.median(wal) / 1024
                print(
                    f"| {name} | {rows:,} | {statistics.median(times):.0f} | {max(times):.0f}"
                    f" | {kib:,.0f} | {statistics.median(wal) / max(rows, 1):.0f} |"
                )
        finally:
            await db.close()
    await _presence(screens, rounds)


def _redis_cpu_ms_and_memory(client: redis.Redis) -> tuple[float, int]:
    cpu = client.info("cpu")
    memory = client.info("memory")
    seconds = float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])
    return seconds * 1000, int(memory["used_memory"])


async def _presence(screens: int, rounds: int) -> None:
    tenant = uuid.uuid4()
    with PrivateRedis() as server:
        probe = redis.Redis.from_url(server.url)
        client = connect(server.url, client_name="bench-presence")
        try:
            presence = RedisPresence(client, "bench")
            live = [(tenant, uuid.uuid4(), datetime.now(UTC)) for _ in range(screens)]
            cpu_before, memory_before = _redis_cpu_ms_and_memory(probe)
            times, client_cpu = [], []
            for _ in range(rounds):
                started, cpu = time.perf_counter(), time.process_time()
                await presence.publish(NODE, live, 15)
                times.append((time.perf_counter() - started) * 1000)
                client_cpu.append((time.process_time() - cpu) * 1000)
            cpu_after, memory_after = _redis_cpu_ms_and_memory(probe)
            assert probe.dbsize() == screens
        finally:
            await client.aclose()
            probe.close()
    per_round = (cpu_after - cpu_before) / rounds
    print()
    print(
        "| presence refresh | keys | median ms | worst ms | node CPU ms | redis CPU ms"
        " | key memory B/key |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| publish | {screens:,} | {statistics.median(times):.0f} | {max(times):.0f}"
        f" | {statistics.median(client_cpu):.0f} | {per_round:.0f}"
        f" | {(memory_after - memory_before) / screens:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--screens", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ack-batch", type=int, default=1_000)
    args = parser.parse_args()
    asyncio.run(run(args.screens, args.rounds, args.ack_batch))


if __name__ == "__main__":
    main()
