"""The reconnect-storm benchmark, small: 30 screens against the product (an emergency
POSTed mid-storm), the bare Quart/Hypercorn baseline and the bare-websockets floor, then
20 over three nodes through the command line, so that CI notices when the benchmark rots
without paying for it."""

from __future__ import annotations

import pytest

from bench.reconnect_storm import floor, framework, main, parse_sizes, product, render

SESSIONS = 30

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_every_server_takes_back_every_screen() -> None:
    rows = [
        floor(SESSIONS, 1),
        framework(SESSIONS, 1),
        product(SESSIONS, 1, "sql", emergency=True),
    ]
    assert [row.storm.ready for row in rows] == [SESSIONS] * 3
    assert all(row.storm.open_s > 0 for row in rows)
    # Each server's own CPU time is measured, in clock ticks (10 ms): a bare baseline may
    # take 30 screens in less than one, the product (auth, database, actors) never does.
    assert all(row.storm.cpu_s >= 0 for row in rows)
    assert rows[2].storm.cpu_s > 0
    admin = rows[2].admin  # the admin's GETs sent while the product's storm ran
    assert admin is not None
    assert admin.requests >= 1
    assert admin.failures == 0
    assert admin.quantile_ms(0.99) is not None
    assert all(row.storm.peak_rss_kib and min(row.storm.peak_rss_kib) > 0 for row in rows)
    delivery = rows[2].storm.delivery  # the emergency POSTed once half the screens were back
    assert delivery is not None
    assert (delivery.received, delivery.missed) == (SESSIONS, 0)
    assert delivery.max_ms is not None
    table = render(rows)
    assert "bare Quart/Hypercorn" in table
    assert "1.00x" in table  # the floor, against itself


def test_three_nodes_with_an_emergency_mid_storm(capsys: pytest.CaptureFixture[str]) -> None:
    # 20 screens over three nodes (one PostgreSQL, one Redis, an address list), the
    # baselines beside them; the emergency reaches every screen.
    assert main(["--sizes", "20x3", "--emergency-mid-storm", "--workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("| ")]
    assert [cells[0].strip() for cells in rows if cells[1].strip() == "20"] == [
        "bare websockets (floor)",
        "bare Quart/Hypercorn",
        "signage x3 nodes (auth, actors, manifest)",
        "signage x3 nodes (auth, actors, manifest)",  # the mid-storm emergency table
    ]
    opened, delivered = rows[3], rows[5]
    assert opened[2].strip() == "20"  # every screen back
    assert len(opened[10].split("/")) == 3  # the peak RSS of each node
    assert (delivered[3].strip(), delivered[4].strip()) == ("20", "0")  # got it, none missed
    assert "—" not in delivered[5]  # p50 / p99 / max all reached


def test_sizes_name_the_nodes_of_each_storm() -> None:
    assert parse_sizes("1000, 10000x3", nodes=1) == [(1000, 1), (10000, 3)]
    assert parse_sizes("20", nodes=3) == [(20, 3)]
    with pytest.raises(ValueError, match="NxK"):
        parse_sizes("20x0", nodes=1)
