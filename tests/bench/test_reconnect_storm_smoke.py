"""The reconnect-storm benchmark, small: 30 screens against the product, the bare
Quart/Hypercorn baseline and the bare-websockets floor, so that CI notices when the
benchmark rots without paying for it."""

from __future__ import annotations

import pytest

from bench.reconnect_storm import floor, framework, product, render

SESSIONS = 30

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_every_server_takes_back_every_screen() -> None:
    rows = [floor(SESSIONS, 1), framework(SESSIONS, 1), product(SESSIONS, 1, "sql")]
    assert [row.ready for row in rows] == [SESSIONS] * 3
    assert all(row.open_s > 0 for row in rows)
    assert all(row.cpu_s > 0 for row in rows)  # each server's own CPU time is measured
    admin = rows[2].admin  # the admin's GETs sent while the product's storm ran
    assert admin is not None
    assert admin.requests >= 1
    assert admin.failures == 0
    assert admin.quantile_ms(0.99) is not None
    table = render(rows)
    assert "bare Quart/Hypercorn" in table
    assert "1.00x" in table  # the floor, against itself
