"""The per-screen delivery rule and the report's counters are one rule: for any screens,
classifying each one and counting gives the report's figures."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.domain.emergencies import AckStats, DeliveryReport
from actors.domain.emergency_delivery import delivery_state, tally

#: (acknowledged, online) per targeted screen.
screens = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=200)


def test_an_ack_decides_whatever_presence_says() -> None:
    assert delivery_state(acked=True, online=False) == "delivered"
    assert delivery_state(acked=True, online=True) == "delivered"
    assert delivery_state(acked=False, online=True) == "pending"
    assert delivery_state(acked=False, online=False) == "offline"


@given(screens)
def test_counting_the_states_gives_the_report(found: list[tuple[bool, bool]]) -> None:
    counts = tally(delivery_state(acked=acked, online=online) for acked, online in found)
    unacked = [online for acked, online in found if not acked]
    report = DeliveryReport.of(
        AckStats(delivered=len(found) - len(unacked), p50_ms=None, p99_ms=None),
        unacked=len(unacked),
        online=sum(unacked),
    )
    assert (report.delivered, report.pending, report.offline) == (
        counts["delivered"],
        counts["pending"],
        counts["offline"],
    )
    assert report.targeted == len(found) == sum(counts.values())
