"""Device-secret lookups for WebSocket handshakes, coalesced: when many screens connect at
once (a reconnect storm), their secrets are resolved in one statement, not one
transaction each.

The first handshake to ask opens a batch and yields once to the event loop, so that the
handshakes already scheduled join it; then it reads every digest of the batch with one
``SELECT ... WHERE secret_hash = ANY(...)`` and wakes the others. While ``max_in_flight``
reads are under way, an open batch keeps gathering the handshakes that arrive meanwhile
until one of them ends (in a storm, one read per read's time instead of one per loop
iteration: batches of hundreds rather than a few). A batch holds at most ``max_batch``
digests (the next asker opens another; the full one is read once a read ends, without
gathering more). Nothing is cached: every handshake sees PostgreSQL as it is when its
batch is read, so a revoked or rotated secret is refused from the next batch on, on
every node.

The read runs shielded from the leader's cancellation (a screen that hangs up must not
strand the others waiting on its batch) and bounded by ``timeout_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
import anyio.lowlevel

from actors.domain.device_secret import hash_device_secret
from actors.domain.devices import Credential
from actors.errors import Unauthenticated, Unavailable
from actors.ports.uow import UnitOfWork

MAX_BATCH = 500
#: Reads under way at once before an open batch waits (gathering) for one to end.
MAX_IN_FLIGHT = 1
TIMEOUT_S = 5.0


@dataclass(slots=True)
class _Batch:
    digests: set[bytes] = field(default_factory=set)
    done: anyio.Event = field(default_factory=anyio.Event)
    found: dict[bytes, Credential] = field(default_factory=dict)
    failed: Exception | None = None


class CredentialLookups:
    """See the module docstring."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = MAX_IN_FLIGHT,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._uow = uow
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._timeout_s = timeout_s
        self._open: _Batch | None = None
        self._in_flight = 0
        self._read_ended = anyio.Event()
        #: Statements run and secrets resolved (for tests and the bench).
        self.reads = 0
        self.looked_up = 0

    async def credential(self, secret: str) -> Credential:
        """Who presents ``secret`` (any status: the caller decides what each means).

        :raises Unauthenticated: (401) for a malformed or unknown secret.
        :raises Unavailable: (503) when PostgreSQL cannot answer.
        """
        digest = hash_device_secret(secret)
        if digest is None:
            raise Unauthenticated("unknown device secret")
        return await self.credential_of(digest)

    async def credential_of(self, digest: bytes) -> Credential:
        """:meth:`credential` by the stored digest of a secret (what a session's recheck
        keeps: never the secret itself), in the same batches as the handshakes.

        :raises Unauthenticated: (401) for an unknown digest.
        :raises Unavailable: (503) when PostgreSQL cannot answer.
        """
        batch = self._open
        leader = batch is None or len(batch.digests) >= self._max_batch
        if batch is None or leader:
            batch = self._open = _Batch()
        batch.digests.add(digest)
        if leader:
            await self._read(batch)
        else:
            await batch.done.wait()
        if batch.failed is not None:
            raise Unavailable("the database is unavailable; retry shortly") from batch.failed
        found = batch.found.get(digest)
        if found is None:
            raise Unauthenticated("unknown device secret")
        return found

    async def _read(self, batch: _Batch) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await (
                    anyio.lowlevel.checkpoint()
                )  # the handshakes already scheduled join this batch
                while self._in_flight >= self._max_in_flight and self._open is batch:
                    await self._read_ended.wait()  # (bounded by that read's timeout)
                if self._open is batch:
                    self._open = None
                self._in_flight += 1
                try:
                    with anyio.fail_after(self._timeout_s):
                        async with self._uow.platform() as tx:
                            batch.found = await tx.devices.credentials(list(batch.digests))
                finally:
                    self._in_flight -= 1
                    self._read_ended.set()
                    self._read_ended = anyio.Event()
                self.reads += 1
                self.looked_up += len(batch.digests)
            except Exception as exc:  # PostgreSQL down or slow: every waiter gets 503
                batch.failed = exc
            finally:
                if self._open is batch:
                    self._open = None
                batch.done.set()
