"""The baseline server as a child process: start it, talk to its control port, stop it.

::

    with BaselineServer() as server:
        server.ws_url                     # ws://127.0.0.1:<port>/
        server.rss_kib()                  # its VmRSS now
        server.trigger_for(payload)()     # broadcast; a Trigger for LoadGenerator.run_round
        server.freeze_gc(); server.stats()

Leaving the ``with`` block sends SIGTERM, then SIGKILL if it has not exited in time.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from bench.loadgen.trigger import Trigger, Triggered, http_call
from bench.procstat import rss_kib, stop_process

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class ServerStats:
    connections: int
    #: ``(start, seconds, generation)`` of each collection, start in ``time.monotonic()``.
    gc_pauses: list[tuple[float, float, int]]

    def pauses_between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        """Collections that overlapped ``[start, end]`` (``time.monotonic()`` readings)."""
        return [p for p in self.gc_pauses if p[0] <= end and p[0] + p[1] >= start]


class BaselineServer:
    """A running ``bench.baseline_ws_server`` process; see the module docstring."""

    def __init__(self, max_lifetime_s: float = 1800.0) -> None:
        self._max_lifetime_s = max_lifetime_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.ws_port = 0
        self.control_port = 0

    def __enter__(self) -> Self:
        self._log = tempfile.TemporaryFile()  # stderr; shown if the start fails
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.baseline_ws_server",
                "--host",
                HOST,
                "--max-lifetime-s",
                str(self._max_lifetime_s),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        try:
            ready = self._read_line(START_TIMEOUT_S).split()
            if len(ready) != 3 or ready[0] != b"READY":
                raise RuntimeError(f"unexpected first line {ready!r}")
            self.ws_port, self.control_port = int(ready[1]), int(ready[2])
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            stop_process(self._process, STOP_TIMEOUT_S)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("not running")
        return self._process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}/"

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.control_port}"

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def trigger_for(self, payload: bytes) -> Trigger:
        """A trigger that makes the server broadcast ``payload`` as one text frame."""

        def fire() -> Triggered:
            return http_call("POST", f"{self.control_url}/trigger", payload)

        return fire

    def freeze_gc(self) -> int:
        """``gc.collect(); gc.freeze()`` in the server; returns the frozen object count."""
        answer = http_call("POST", f"{self.control_url}/gc/freeze", b"")
        frozen: int = json.loads(answer.body)["frozen"]
        return frozen

    def stats(self) -> ServerStats:
        data = json.loads(http_call("GET", f"{self.control_url}/stats").body)
        return ServerStats(
            connections=int(data["connections"]),
            gc_pauses=[(float(s), float(d), int(g)) for s, d, g in data["gc_pauses"]],
        )

    def wait_connections(self, count: int, timeout_s: float) -> int:
        """Poll ``/stats`` until the server holds ``count`` open connections; return the last
        count seen (lower than ``count`` if ``timeout_s`` ran out)."""
        deadline = time.monotonic() + timeout_s
        seen = self.stats().connections
        while seen < count and time.monotonic() < deadline:
            time.sleep(0.05)  # polling another process's state; no event to wait on
            seen = self.stats().connections
        return seen

    def _read_line(self, timeout_s: float) -> bytes:
        assert self._process is not None
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"baseline server silent for {timeout_s}s: {self._stderr()}")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 256)
                if not chunk:
                    raise RuntimeError(f"baseline server exited: {self._stderr()}")
                line += chunk
        return line

    def _stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace")
