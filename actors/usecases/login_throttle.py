"""Reserving and settling login attempts against the throttle (actors/domain/throttle.py).

Every step that checks a secret an attacker could guess — a password at login, the current
password of a password change, a second-factor code — runs between :meth:`reserve` and one
of :meth:`failed` / :meth:`succeeded` / :meth:`release`:

    keys = throttle.keys(email, meta)
    async with uow.anonymous() as tx:
        await throttle.reserve(tx, keys)        # Throttled (429) before any work
    try:
        ...check the secret...
        async with uow.scoped(tid) as tx:
            await throttle.failed(tx, keys)     # or succeeded(); same transaction as the audit
    finally:
        ...release(keys) in its own transaction unless settled...

The reservation must commit before the check starts: that is what the next concurrent
attempt sees. An attempt that is never settled (its node died) lapses after
``RESERVATION_TTL_S``.
"""

from __future__ import annotations

import msgspec

from actors.domain.principal import RequestMeta
from actors.domain.throttle import (
    RESERVATION_TTL_S,
    ThrottlePolicy,
    account_key,
    address_key,
)
from actors.errors import Throttled
from actors.ports.uow import Tx

THROTTLED = "too many failed attempts; retry later"


class AttemptKeys(msgspec.Struct, frozen=True):
    """The throttle keys one attempt counts against, in locking order (account first)."""

    account: str
    address: str | None


class LoginThrottle:
    def __init__(self, *, per_account: ThrottlePolicy, per_address: ThrottlePolicy) -> None:
        self._per_account = per_account
        self._per_address = per_address

    def keys(self, email: str, meta: RequestMeta) -> AttemptKeys:
        """Keys for an attempt on the (normalised) ``email`` from ``meta``'s address."""
        return AttemptKeys(account=account_key(email), address=address_key(meta.source_ip))

    def _policies(self, keys: AttemptKeys) -> list[tuple[str, ThrottlePolicy]]:
        pairs = [(keys.account, self._per_account)]
        if keys.address is not None:
            pairs.append((keys.address, self._per_address))
        return pairs

    async def reserve(self, tx: Tx, keys: AttemptKeys) -> None:
        """Take a slot on every key, or none.

        :raises Throttled: if a key is blocked or all its slots are in flight; raise it
            inside ``tx`` so the slots already taken roll back with it.
        """
        for key, policy in self._policies(keys):
            state = await tx.throttle.reserve(
                key, window_s=policy.window_s, ttl_s=RESERVATION_TTL_S
            )
            wait = policy.refusal(state)
            if wait:
                raise Throttled(THROTTLED, wait)

    async def failed(self, tx: Tx, keys: AttemptKeys) -> int:
        """Count a failure on every key (blocking those past their budget) and give the
        slots back; returns the account's failures within the window."""
        failures = 0
        for key, policy in self._policies(keys):
            count = await tx.throttle.count_failure(key, window_s=policy.window_s)
            block = policy.block_for(count)
            if block:
                await tx.throttle.block(key, block)
            await tx.throttle.release(key, window_s=policy.window_s)
            if key == keys.account:
                failures = count
        await tx.throttle.purge_stale(window_s=self._per_account.window_s)
        return failures

    async def succeeded(self, tx: Tx, keys: AttemptKeys) -> None:
        """Forget the account's failures (never the address's) and give the slots back."""
        await tx.throttle.clear(keys.account)
        await self.release(tx, keys)

    async def release(self, tx: Tx, keys: AttemptKeys) -> None:
        """Give the slots back without counting anything (the attempt did not finish, or
        finished with a step still to come that is throttled by itself)."""
        for key, policy in self._policies(keys):
            await tx.throttle.release(key, window_s=policy.window_s)
