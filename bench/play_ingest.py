"""Proof-of-play ingest at 10,000 screens (issue 16): what one node pays to take the
screens' ``played`` frames (decode + checks + buffer, per frame) and to write them to a
real PostgreSQL (rolled up per hour, repeats filtered by each screen's mark).

    .venv/bin/python -m bench.play_ingest [--screens 10000] [--items 20] [--rounds 3]

``BENCH_DATABASE_URL`` names the PostgreSQL server's maintenance database; a scratch
database is created, migrated and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from actors.metrics import MetricsRegistry
from actors.protocol import Played, decode_inbound
from actors.services.play_writer import BatchedPlays
from bench.manifest_recompute import scratch_database
from store.db import Database
from store.migrations import migrate
from store.uow import Store

CONTENT_ITEMS = 50


def seed(url: str, tenant: uuid.UUID, screens: list[uuid.UUID]) -> list[uuid.UUID]:
    content = [uuid.uuid4() for _ in range(CONTENT_ITEMS)]
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO tenants (id, name, slug) VALUES (%s, 'Bench', 'bench')", (tenant,)
        )
        conn.execute(
            "INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id,"
            " registered_from, name, groups)"
            " SELECT d, %(t)s, 'approved', (%(s)s::bytea[])[n], 'hw', 'bench', 'S' || n,"
            "        ARRAY['g' || (n %% 40)]"
            " FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS x (d, n)",
            {
                "t": tenant,
                "ids": screens,
                "s": [hashlib.sha256(d.bytes).digest() for d in screens],
            },
        )
        conn.execute(
            "INSERT INTO content (id, tenant_id, kind, state, revision, created_by)"
            " SELECT c, %s, 'text', 'draft', 1, gen_random_uuid()"
            " FROM unnest(%s::uuid[]) AS c",
            (tenant, content),
        )
    return content


def frames(
    screens: list[uuid.UUID], content: list[uuid.UUID], items: int, start: datetime
) -> list[str]:
    """One ``played`` frame per screen: ``items`` consecutive 10-second plays."""
    out = []
    for n, _ in enumerate(screens):
        plays = [
            {
                "content_id": str(content[(n + i) % len(content)]),
                "started_at": (start + timedelta(seconds=10 * i)).isoformat(),
                "duration_ms": 10_000,
            }
            for i in range(items)
        ]
        out.append(json.dumps({"type": "played", "items": plays}))
    return out


async def run(args: argparse.Namespace) -> None:
    tenant = uuid.uuid4()
    screens = [uuid.uuid4() for _ in range(args.screens)]
    with scratch_database() as url:
        await migrate(url)
        content = seed(url, tenant, screens)
        db = Database(url, min_size=1, max_size=2, application_name="bench:plays")
        await db.open(wait=True)
        try:
            writer = BatchedPlays(Store(db), MetricsRegistry(), flush_every_s=5.0)
            start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            for label, offset in (
                [("first report (new rows)", 0)]
                + [(f"next report {r} (same hour: row updates)", r) for r in range(1, args.rounds)]
                + [("the same frames again (all repeats)", args.rounds - 1)]
            ):
                raw = frames(
                    screens,
                    content,
                    args.items,
                    start + timedelta(seconds=args.items * 10 * offset),
                )
                now = start + timedelta(seconds=args.items * 10 * (offset + 1))
                began = time.perf_counter()
                for device, frame in zip(screens, raw, strict=True):
                    played = decode_inbound(frame)
                    assert isinstance(played, Played)
                    writer.played(tenant, device, played.items, now)
                taken = time.perf_counter() - began
                pending = writer.pending()
                began = time.perf_counter()
                counted = await writer.flush()
                written = time.perf_counter() - began
                print(
                    f"{label}: {args.screens} frames x {args.items} items: take "
                    f"{taken / args.screens * 1e6:.1f} µs/frame; write {pending} plays in "
                    f"{written:.2f} s ({pending / written:,.0f} plays/s), counted {counted}"
                )
            with psycopg.connect(url) as conn:
                rows, size = conn.execute(
                    "SELECT count(*), pg_total_relation_size('play_hours') FROM play_hours"
                ).fetchone() or (0, 0)
            print(f"play_hours: {rows} rows, {size / 1e6:.1f} MB with indexes")
        finally:
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
