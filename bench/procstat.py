"""Child processes of the benchmarks: memory as the kernel accounts it (Linux ``/proc``),
and stopping them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


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
