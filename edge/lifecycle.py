"""A node's process lifecycle: listen, wait for the database, serve, and stop like server
software under compose or systemd.

**Start.** The listening sockets are bound before anything is announced or started: a
port in use is one line (``cannot listen on 127.0.0.1:8000: address already in use``)
and a non-zero exit, not a node that says "serving on" and hangs. A database that is not
reachable yet is retried with backoff, one log line per attempt, then given up on with
one line and a non-zero exit (:func:`store.startup.with_database`).

**Stop** (SIGTERM or SIGINT):

1. the node drains (:meth:`~edge.container.Container.drain`): new screen sessions are
   refused with 503, ``/ready`` says unavailable, every screen is told ``reconnect``
   (with a jittered delay) and closed 1012 — the idle ones in one pass, written straight
   to their connections — and the close replies are awaited under one deadline
   (``SHUTDOWN_CLOSE_REPLIES_S``), after which the screens that did not answer are dropped.
   The process is about to exit: garbage collections are off from here on, and the
   sessions' handlers end without waiting for their actors one by one (the runtime's
   stop waits for all of them) or logging a line each;
2. Hypercorn stops accepting and lets the HTTP requests in flight finish;
3. the app's ``after_serving`` stops the actor runtime (batched acks and last-seen writes
   are flushed) and closes the pool.

The whole stop is bounded by ``SHUTDOWN_GRACE_S``, whatever Hypercorn does: 0.18 awaits
``Server.wait_closed()`` before applying its own graceful timeout, and since Python
3.12.1 that waits for every open connection (a screen that never answers the close, an
idle keep-alive). Past the deadline the serving task is cancelled and the node is stopped
here. A second signal skips the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
from collections.abc import Awaitable, Iterator

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app
from quart import Quart

from edge.container import EXTENSION_KEY, Container
from edge.server import prepare_stack

log = logging.getLogger("signage")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_REASONS = {
    errno.EADDRINUSE: "address already in use",
    errno.EACCES: "permission denied",
    errno.EADDRNOTAVAIL: "address not available on this host",
}


class ListenError(Exception):
    """The node cannot listen where it was told to (the message is the whole story)."""


def bind(config: Config) -> Sockets:
    """The listening sockets for ``config.bind``, bound now.

    :raises ListenError: one line naming the address and why (port in use, ...).
    """
    try:
        return config.create_sockets()
    except OSError as exc:
        where = ", ".join(config.bind)
        why = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        raise ListenError(f"cannot listen on {where}: {why}") from None


class ShutdownSignals:
    """SIGTERM/SIGINT for the whole life of ``signage serve``, installed once (no moment
    where a signal would kill the process before it cleans up).

    While :meth:`starting`, a signal cancels the start. Then the first signal sets
    :attr:`stopping` (drain and stop within the grace), the second :attr:`now`."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.now = asyncio.Event()
        self._start: asyncio.Task[object] | None = None
        self._installed: list[int] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in _SIGNALS:
            # Windows' loops have no add_signal_handler; Ctrl-C arrives as KeyboardInterrupt.
            with contextlib.suppress(NotImplementedError, AttributeError, ValueError):
                loop.add_signal_handler(signum, self._received, signum)
                self._installed.append(signum)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """A signal inside this block cancels the task running it."""
        self._start = asyncio.current_task()
        try:
            yield
        finally:
            self._start = None

    def _received(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._start is not None:
            log.info("%s while starting: stopping", name)
            self.stopping.set()
            self._start.cancel()
        elif self.stopping.is_set():
            log.warning("%s again: stopping now", name)
            self.now.set()
        else:
            log.info("%s: shutting down", name)
            self.stopping.set()


async def serve_node(
    app: Quart, config: Config, sockets: Sockets, signals: ShutdownSignals, *, grace_s: float
) -> None:
    """Serve ``app`` on ``sockets`` until ``signals`` says stop, then stop as the module
    docstring says, within ``grace_s``."""
    node: Container = app.extensions[EXTENSION_KEY]
    stopping, now = signals.stopping, signals.now
    lifecycle = node.settings.lifecycle
    prepare_stack()
    # Announced once bound, started and ready for signals (tests and operators wait for it).
    log.info("serving on http://%s (node %s)", ", ".join(config.bind), node.settings.node_id)

    async def drained() -> None:
        await stopping.wait()
        _no_more_collections()
        await node.drain(min(grace_s * lifecycle.drain_share, lifecycle.close_replies_s))

    serving = asyncio.create_task(
        worker_serve(
            wrap_app(app, config.wsgi_max_body_size, None),
            config,
            sockets=sockets,
            shutdown_trigger=drained,
        ),
        name="hypercorn",
    )
    try:
        await _first(serving, stopping.wait())
        if not serving.done():
            await _first(serving, now.wait(), within_s=grace_s)
        if not serving.done():
            log.warning("Hypercorn did not stop within the grace period: stopping hard")
            serving.cancel()
            await asyncio.wait({serving}, timeout=lifecycle.final_stop_s)
        elif not serving.cancelled():
            serving.result()  # why serving ended early (a start-up failure), if it did
    finally:
        # after_serving stops the node when Hypercorn ran its course; when it did not,
        # this does (idempotent: waits for a stop already under way).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(node.stop()),
                lifecycle.hard_stop_s if now.is_set() else lifecycle.final_stop_s,
            )


def _no_more_collections() -> None:
    """The process is about to exit: a garbage collection now would only pause the drain
    (ending 10,000 sessions at once sets off collections, and a full one walks millions
    of objects). What the drain allocates is freed by reference counting as usual; the
    GC policy holds off while collections are off."""
    gc.disable()


async def _first(
    task: asyncio.Task[None], other: Awaitable[object], within_s: float | None = None
) -> None:
    """Wait until ``task`` ends or ``other`` completes (or ``within_s`` passes)."""
    waiter = asyncio.ensure_future(other)
    try:
        await asyncio.wait({task, waiter}, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
