"""The manifest benchmark still runs end to end (tiny: 60 screens, one round)."""

from __future__ import annotations

import argparse

import pytest

from bench import manifest_recompute

pytestmark = pytest.mark.anyio


async def test_the_manifest_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(devices=60, schedules=20, runs=1, seed=7)
    await manifest_recompute.run(args)
    report = capsys.readouterr().out
    assert "60 sessions opened with their manifest" in report
    for change in ("add: two groups", "delete: two groups", "add: whole tenant"):
        assert change in report
    whole = next(line for line in report.splitlines() if line.startswith("add: whole tenant"))
    assert whole.split()[3] == "60"  # every screen changed and was reached
