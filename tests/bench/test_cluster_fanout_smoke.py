"""The cluster fan-out benchmark, small: 60 screens over one and then two nodes on a real
Redis Cluster, one round each — every screen gets the emergency, and it crosses the relay
as one message published and one received per other node."""

from __future__ import annotations

import pytest

from bench.cluster_fanout import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_every_screen_gets_it_and_the_relay_carries_one_message_per_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--nodes", "1,2", "--sessions", "60", "--rounds", "1"]) == 0
    table = capsys.readouterr().out.splitlines()
    one, two = (line.split("|") for line in table if line.startswith(("| 1 |", "| 2 |")))
    assert "incomplete" not in one[4] + two[4]
    assert one[-2].strip() == "1 / 0"
    assert two[-2].strip() == "1 / 1"
