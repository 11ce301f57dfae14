"""Second credential checks for the sessions a tenant actor may have heard too late about.

A revocation's notice reaches a node's tenant actor over the relay's tenant channel, which
the actor subscribes when it starts (the tenant's first session on the node, e.g. right
after a restart). A session whose handshake began its credential read *before* that
subscription was live may have been checked before a revocation whose notice was
published before the subscription: nobody on this node heard it. The tenant actor says so
when the session registers (:attr:`~actors.node.messages.SessionRegistered.recheck`),
and this service reads the session's credentials once more, through the same batched
lookup as the handshakes, outside any actor (actors never await PostgreSQL): a secret no
longer valid closes the session as a revocation does (``revoked``, 4401).

Only the sessions whose lookups began before their tenant actor's subscription are
rechecked (in a restart storm, the first batch or so per tenant): the cost is a second
read for a few hundred screens, coalesced into a batch or two. After a tenant actor's
crash every session rejoining its new incarnation is (it heard nothing while down).
"""

from __future__ import annotations

import contextlib
import logging
from uuid import UUID

import anyio
import anyio.abc

from actors.domain.devices import Credential
from actors.errors import Unauthenticated, Unavailable
from actors.metrics import MetricsRegistry
from actors.node.messages import CloseSession
from actors.ports.devices import CredentialSource
from actors.protocol import CloseCode, Revoked, encode_text
from actors.runtime import ActorRef, ActorStopped

log = logging.getLogger(__name__)

_REVOKED = encode_text(Revoked())


class CredentialRechecks:
    """A runtime service (see the module docstring); :meth:`request` never blocks."""

    def __init__(self, lookups: CredentialSource, metrics: MetricsRegistry | None = None) -> None:
        self._lookups = lookups
        self._pending: list[tuple[bytes, UUID, ActorRef]] = []
        self._wake = anyio.Event()
        self._stopping = False
        registry = metrics if metrics is not None else MetricsRegistry()
        self._results = registry.counter(
            "signage_session_rechecks_total",
            "Sessions whose credentials were read again because their handshake began "
            "before their tenant actor's relay subscription was live, by result "
            "(allowed, refused: closed 4401, failed: PostgreSQL did not answer).",
            labels=("result",),
        )

    def request(self, digest: bytes, device_id: UUID, ref: ActorRef) -> None:
        """Read the secret whose stored digest is ``digest`` again (a session keeps the
        digest, never its secret); close the session of ``ref`` if it no longer lets
        ``device_id`` connect."""
        self._pending.append((digest, device_id, ref))
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with anyio.create_task_group() as tasks:
            task_status.started()
            while not self._stopping:
                await self._wake.wait()
                self._wake = anyio.Event()
                pending, self._pending = self._pending, []
                for digest, device_id, ref in pending:  # concurrent: they share a batch
                    tasks.start_soon(self._recheck, digest, device_id, ref)
            tasks.cancel_scope.cancel()

    async def _recheck(self, digest: bytes, device_id: UUID, ref: ActorRef) -> None:
        try:
            found: Credential | None = await self._lookups.credential_of(digest)
        except Unauthenticated:
            found = None  # deleted since, or its secret rotated
        except Unavailable:
            self._results.inc(result="failed")
            log.warning("device %s: recheck failed; the reconciliation will tell", device_id)
            return
        if found is not None and found.may_connect and found.device_id == device_id:
            self._results.inc(result="allowed")
            return
        self._results.inc(result="refused")
        log.info("device %s: no longer valid on recheck: closing", device_id)
        close = CloseSession(CloseCode.UNAUTHORIZED, "device secret no longer valid", _REVOKED)
        with contextlib.suppress(ActorStopped):  # ended meanwhile
            ref.tell(close)
