"""Child processes of the benchmarks: memory as the kernel accounts it (Linux ``/proc``),
its peak over a run, and stopping them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Self


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` in ``/proc/<pid>/status``).

    Kernel socket buffers are not part of it: this is the process's own heap, stacks and
    mapped pages, which is what "server memory per session" means in the reports.

    :raises ProcessLookupError: if the process is gone.
    :raises RuntimeError: if the kernel does not report ``VmRSS`` (a zombie, or not Linux).
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise RuntimeError(f"unexpected VmRSS unit {unit!r} for pid {pid}")
            return int(value)
    raise RuntimeError(f"no VmRSS for pid {pid} (exited?)")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, seconds) process ``pid`` has used so far
    (``/proc/<pid>/stat``). On a shared machine this, not the wall time, is what a server
    spent on the work: other processes' load stretches the wall clock, not this.

    :raises ProcessLookupError: if the process is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM ``process`` and wait; SIGKILL it if it has not exited after ``timeout_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout_s)


class PeakRss:
    """The highest ``VmRSS`` (KiB) each of ``pids`` reached while the ``with`` block ran,
    sampled every ``every_s`` by a thread of this process (a process that exits meanwhile
    keeps the peak it had)."""

    def __init__(self, pids: Sequence[int], every_s: float = 0.05) -> None:
        self._pids = tuple(pids)
        self._every_s = every_s
        self.peaks_kib = [0] * len(self._pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak rss", daemon=True)

    def __enter__(self) -> Self:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10.0)
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self._sample()

    def _sample(self) -> None:
        for i, pid in enumerate(self._pids):
            with contextlib.suppress(ProcessLookupError, RuntimeError):
                self.peaks_kib[i] = max(self.peaks_kib[i], rss_kib(pid))
