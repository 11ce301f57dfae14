"""The sizing benchmark, small (200 screens, one round): each batched statement stores
every row it is given and the presence refresh writes one key per session — so that CI
notices when the benchmark rots without paying for it."""

from __future__ import annotations

import pytest

from bench.sizing_load import run

SCREENS = 200

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_every_statement_stores_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    await run(SCREENS, rounds=1, ack_batch=64)
    table = capsys.readouterr().out
    for name in ("last_seen", "health", "acks", "publish"):
        [row] = [line for line in table.splitlines() if line.startswith(f"| {name} |")]
        assert row.split("|")[2].strip() == f"{SCREENS:,}", row
