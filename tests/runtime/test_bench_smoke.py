"""The runtime's benchmarks still run (tiny sizes: this checks they work, not figures)."""

from __future__ import annotations

import pytest

from bench import actors_fanout, actors_throughput


def test_the_throughput_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert actors_throughput.main(["--messages", "2000", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "send" in out
    assert "tell" in out


def test_the_fanout_benchmark_runs_on_both_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert actors_fanout.main(["--actors", "100", "--rounds", "2", "--trio"]) == 0
    out = capsys.readouterr().out
    assert "last one handled" in out
    assert "runtime on trio" in out
