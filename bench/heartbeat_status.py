"""Heartbeat cost on the session path with status fields (issue 16): decode, the has-status
check and keeping the latest status per screen (no I/O: the batched writer never flushes
here). Prints µs per heartbeat, best of three runs.

    .venv/bin/python -m bench.heartbeat_status
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from actors.metrics import MetricsRegistry
from actors.ports.uow import UnitOfWork
from actors.protocol import Heartbeat, decode_inbound
from actors.services.fleet_writer import BatchedFleetReports

HEARTBEATS = 200_000
SCREENS = 10_000
FRAMES = {
    "bare": {"type": "heartbeat"},
    "app_version only": {"type": "heartbeat", "app_version": "simulator"},
    "full status": {
        "type": "heartbeat",
        "app_version": "2.4.1",
        "uptime_s": 3600.5,
        "display_on": True,
        "free_storage_bytes": 12_000_000_000,
        "last_error": None,
        "playing": "content:welcome-loop",
        "manifest_version": 3,
    },
}


def main() -> None:
    never_flushed: UnitOfWork = None  # type: ignore[assignment]
    writer = BatchedFleetReports(never_flushed, MetricsRegistry(), node_id="bench")
    tenant = uuid.uuid4()
    screens = [uuid.uuid4() for _ in range(SCREENS)]
    for name, frame in FRAMES.items():
        raw = json.dumps(frame)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for i in range(HEARTBEATS):
                heartbeat = decode_inbound(raw)
                assert isinstance(heartbeat, Heartbeat)
                if heartbeat.has_status():
                    writer.status(tenant, screens[i % SCREENS], heartbeat, datetime.now(UTC))
            best = min(best, time.perf_counter() - started)
        print(f"{name}: {best / HEARTBEATS * 1e6:.2f} µs per heartbeat")


if __name__ == "__main__":
    main()
