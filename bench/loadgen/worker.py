"""A load-generator worker process: opens its share of sessions, then obeys the coordinator.

Entry point :func:`worker_main` (the target of a ``multiprocessing`` spawn). The worker
lives at most ``spec.max_lifetime_s`` and exits when its pipe closes, so a crashed
coordinator never leaves it behind holding thousands of sockets.

Between rounds the worker's own garbage collector is frozen (after opening) and disabled
(during a round): a collection over thousands of sessions would stamp late arrival times
on frames that came in on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import time
from collections import Counter
from collections.abc import Iterable, MutableSequence
from multiprocessing.connection import Connection

from bench.loadgen.handshake import new_key, upgrade_request
from bench.loadgen.messages import (
    Arm,
    Armed,
    Close,
    Closed,
    Collect,
    Command,
    Failed,
    Opened,
    Reply,
    Report,
    WorkerSpec,
)
from bench.loadgen.session import DeviceSession, NotOpened, Round, failure_reason
from bench.loadgen.summary import merge_counts
from simulator.screen import reconnect_delay

#: Commands the coordinator may have in flight; the exchange is lock-step, so 1 is normal.
_COMMAND_QUEUE = 8


def _prefixed(prefix: str, counts: Counter[str]) -> dict[str, int]:
    return {f"{prefix}{k}": v for k, v in counts.items()}


def raise_open_files_limit() -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; return the new soft one."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def worker_main(
    pipe: Connection, spec: WorkerSpec, progress: MutableSequence[int] | None = None
) -> None:
    """Run one worker to completion. Never raises: failures are sent as :class:`Failed`.

    ``progress`` (shared memory, one slot per worker): slot ``spec.worker_id`` counts this
    worker's sessions that became ready while opening, for a coordinator acting mid-storm.
    """
    try:
        raise_open_files_limit()
        asyncio.run(_Worker(pipe, spec, progress).run())
    except Exception as exc:  # report, don't die silently: the coordinator is waiting
        with contextlib.suppress(OSError):
            pipe.send(Failed(spec.worker_id, f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


class _Worker:
    def __init__(
        self, pipe: Connection, spec: WorkerSpec, progress: MutableSequence[int] | None = None
    ) -> None:
        self._pipe = pipe
        self._spec = spec
        self._progress = progress
        #: Failed attempts retried by the reconnect contract while opening, by reason.
        self._retried: Counter[str] = Counter()
        self._sessions: list[DeviceSession] = []
        self._round = Round()
        self._errors: Counter[str] = Counter()
        self._commands: asyncio.Queue[Command] = asyncio.Queue(_COMMAND_QUEUE)
        self._expected_by_target: list[int] = []
        self._closed_before = 0
        self._cpu_at_arm = 0.0
        #: Sessions created but not yet adopted into ``_sessions`` (see ``_adopt``).
        self._born: list[DeviceSession] = []
        #: Reconnects of the current round's storm, owned here and reaped at Collect.
        self._storm: set[asyncio.Task[None]] = set()
        self._reconnect_failures: Counter[str] = Counter()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._pipe.fileno(), self._on_pipe_readable)
        try:
            async with asyncio.timeout(self._spec.max_lifetime_s):
                self._send(await self._open())
                gc.collect()
                gc.freeze()  # the sessions live for the whole run: stop re-scanning them
                await self._obey()
        except TimeoutError:
            raise RuntimeError(f"lifetime of {self._spec.max_lifetime_s}s is over") from None
        finally:
            loop.remove_reader(self._pipe.fileno())
            for session in (*self._sessions, *self._born):
                session.abort()

    # -- opening ----------------------------------------------------------------------

    async def _open(self) -> Opened:
        spec = self._spec
        started = time.monotonic()
        gate = asyncio.Semaphore(spec.connect_concurrency)
        failures: Counter[str] = Counter()
        if spec.watch_marker:  # every screen expected; Collect follows Opened
            every_screen = ((spec.first + i) % len(spec.targets) for i in range(spec.count))
            self._begin_round(spec.watch_marker, every_screen, by_screen=True)
        try:
            async with asyncio.timeout(spec.open_timeout_s), asyncio.TaskGroup() as tasks:
                for i in range(spec.count):
                    tasks.create_task(self._connect(i, gate, failures))
        except TimeoutError:
            pass
        ready = self._adopt()
        unexplained = spec.count - ready - sum(failures.values())
        if unexplained > 0:
            failures["open phase timed out"] += unexplained
        return Opened(
            worker_id=spec.worker_id,
            ready=ready,
            failed=spec.count - ready,
            stalled=sum(1 for s in self._sessions if s.stall),
            errors=dict(failures),
            elapsed_s=time.monotonic() - started,
            retried=dict(self._retried),
        )

    async def _connect(
        self, i: int, gate: asyncio.Semaphore, failures: Counter[str], *, in_round: bool = False
    ) -> None:
        """Connect session ``i`` of this worker and wait until it is ready, or count why not.

        Whether the session is kept is not decided here but by :meth:`_adopt`, from its
        state: this task may be cancelled one step after its session became ready.
        ``in_round``: a reconnect during a round; the new session awaits the round's marker
        from its first byte, and a failure to reconnect settles it as lost.
        With ``spec.reconnect`` (and not ``in_round``) a failed attempt is retried as a
        player does (docs/devices.md): after a full-jitter backoff that is never shorter
        than the refusal's ``Retry-After``, on the next address; 4401 is final.
        """
        spec = self._spec
        target_index = (spec.first + i) % len(spec.targets)
        attempts = 0
        while True:
            failure = await self._attempt(i, target_index, gate, in_round=in_round)
            if failure is None:
                if self._progress is not None:
                    self._progress[spec.worker_id] += 1
                return
            reason, retry_after_s, final = failure
            attempts += 1
            if in_round or final or not spec.reconnect:
                failures[reason] += 1
                return
            self._retried[reason] += 1
            await asyncio.sleep(reconnect_delay(attempts, retry_after_s=retry_after_s))
            target_index = (target_index + 1) % len(spec.targets)

    async def _attempt(
        self, i: int, target_index: int, gate: asyncio.Semaphore, *, in_round: bool
    ) -> tuple[str, float | None, bool] | None:
        """One connection of session ``i`` to ``targets[target_index]``: ``None`` once it is
        ready, else why not, the ``Retry-After`` if any, and whether that is final."""
        spec = self._spec
        key = new_key()
        token = spec.tokens[i] if spec.auth != "none" else None
        target = spec.targets[target_index]
        request = upgrade_request(
            target.host_header, target.path, key, bearer=token if spec.auth == "bearer" else None
        )
        stall = not in_round and spec.stall_every > 0 and (spec.first + i) % spec.stall_every == 0
        born: DeviceSession | None = None

        def factory() -> DeviceSession:
            nonlocal born
            born = DeviceSession(
                index=i,
                target=target_index,
                request=request,
                key=key,
                hello_token=token if spec.auth == "hello" else None,
                ready_marker=spec.ready_marker,
                stall=stall,
                round_=self._round,
                errors=self._errors,
                awaiting=in_round or bool(spec.watch_marker),
            )
            self._born.append(born)
            return born

        source = spec.source_addresses[i % len(spec.source_addresses)]
        loop = asyncio.get_running_loop()
        try:
            # Closed loop: the slot and the time limit last until the session is ready.
            # Open loop: both end with the upgrade; an upgraded session then waits for
            # its opening frames for as long as the open phase lasts, as a player does
            # (simulator.screen keeps a session until it closes).
            async with gate, asyncio.timeout(spec.handshake_timeout_s):
                _transport, session = await loop.create_connection(
                    factory, target.host, target.port, local_addr=(source, 0)
                )
                await (session.upgraded if spec.open_loop else session.ready)
            await session.ready
        except (TimeoutError, OSError) as exc:
            reason = "handshake timeout" if isinstance(exc, TimeoutError) else None
            if born is not None:
                born.discard()  # an awaiting session settles as lost in connection_lost
            elif in_round and self._round.marker:
                self._round.lose_one()  # never connected: lost all the same
            if isinstance(exc, NotOpened):
                return str(exc), exc.retry_after_s, exc.final
            return reason or failure_reason(exc), None, False
        return None

    def _adopt(self) -> int:
        """Keep the sessions born since the last call that are ready and open; abort the
        rest. Returns how many were kept."""
        kept = 0
        for session in self._born:
            if session.is_ready and session.open:
                self._sessions.append(session)
                kept += 1
            else:
                session.discard()
        self._born.clear()
        return kept

    # -- obeying ----------------------------------------------------------------------

    async def _obey(self) -> None:
        while True:
            command = await self._commands.get()
            if isinstance(command, Arm):
                self._send(self._arm(command))
            elif isinstance(command, Collect):
                self._send(await self._collect(command))
            elif isinstance(command, Close):
                self._close()
                self._send(Closed(self._spec.worker_id, dict(self._errors)))
                return

    def _arm(self, command: Arm) -> Armed:
        self._closed_before = sum(1 for session in self._sessions if not session.open)
        expected: list[DeviceSession] = []
        for session in self._sessions:
            session.awaiting = session.open and session.is_ready and not session.stall
            if session.awaiting:
                expected.append(session)
        self._errors.clear()
        self._reconnect_failures.clear()
        self._begin_round(command.marker, (session.target for session in expected))
        gc.disable()
        if command.reconnect_fraction > 0:
            self._start_storm(expected, command.reconnect_fraction)
        return Armed(self._spec.worker_id, len(expected))

    def _begin_round(
        self, marker: bytes, targets: Iterable[int], *, by_screen: bool = False
    ) -> None:
        """Arm the round for one expected session per item of ``targets`` (its target's
        index), counted per target for the report, and start its CPU clock."""
        self._expected_by_target = [0] * len(self._spec.targets)
        for target in targets:
            self._expected_by_target[target] += 1
        self._round.arm(marker, sum(self._expected_by_target), by_screen=by_screen)
        self._cpu_at_arm = time.process_time()

    def _start_storm(self, expected: list[DeviceSession], fraction: float) -> None:
        """Drop ``fraction`` of the expected sessions, spread evenly, and reconnect them at
        once: the coordinator fires the trigger while these handshakes are in flight. Each
        replacement is still expected to get the marker (the server should replay an active
        emergency on connect); the dropped originals no longer are.
        """
        count = min(len(expected), round(fraction * len(expected)))
        if count == 0:
            return
        victims = expected[:: max(1, len(expected) // count)][:count]
        dropped = {id(victim) for victim in victims}
        self._sessions = [s for s in self._sessions if id(s) not in dropped]
        gate = asyncio.Semaphore(self._spec.connect_concurrency)
        for victim in victims:
            victim.awaiting = False  # its replacement awaits instead
            victim.abort()
            self._storm.add(
                asyncio.create_task(
                    self._connect(victim.index, gate, self._reconnect_failures, in_round=True)
                )
            )

    async def _collect(self, command: Collect) -> Report:
        remaining = command.deadline - time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, remaining)):
                await self._round.done.wait()
        cpu_s = time.process_time() - self._cpu_at_arm
        gc.enable()
        arrivals, lost = list(self._round.arrivals), self._round.lost
        screens = list((self._round.screens or {}).values())
        self._round.disarm()
        reconnected = await self._end_storm()
        for session in self._sessions:
            session.awaiting = False
        return Report(
            worker_id=self._spec.worker_id,
            expected_by_target=self._expected_by_target,
            closed_before=self._closed_before,
            arrivals=arrivals,
            lost=lost,
            reconnected=reconnected,
            cpu_s=cpu_s,
            errors=merge_counts([self._errors, _prefixed("reconnect: ", self._reconnect_failures)]),
            screens=screens,
        )

    async def _end_storm(self) -> int:
        """Cancel the round's unfinished reconnects, wait for them (quick: they only have
        to unwind), keep the replacements that made it; return how many did."""
        for task in self._storm:
            task.cancel()
        if self._storm:
            await asyncio.gather(*self._storm, return_exceptions=True)
        self._storm.clear()
        return self._adopt()

    def _close(self) -> None:
        # asyncio writes at once when a transport's buffer is empty, so each close frame is
        # in the kernel when close() returns; process exit then sends the FINs.
        for session in self._sessions:
            session.close()
        self._sessions.clear()

    # -- the pipe ---------------------------------------------------------------------

    def _on_pipe_readable(self) -> None:
        try:
            command = self._pipe.recv()
        except (EOFError, OSError):
            command = Close()  # the coordinator is gone: clean up and exit
        if not isinstance(command, Arm | Collect | Close):
            self._errors[f"unexpected command {type(command).__name__}"] += 1
            command = Close()
        if isinstance(command, Close):
            asyncio.get_running_loop().remove_reader(self._pipe.fileno())
        self._commands.put_nowait(command)

    def _send(self, reply: Reply) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send(reply)
