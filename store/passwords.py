"""Argon2id password hashing (argon2-cffi, PHC-format hashes), off the event loop.

Each hash holds ``memory_kib`` of memory for tens of milliseconds of CPU, so hashing runs in
worker threads behind a :class:`anyio.CapacityLimiter` (``max_concurrent`` at once) with a
bounded number of callers allowed to wait (``max_queued``): a login flood then costs at
most ``max_concurrent * memory_kib`` of memory and gets 429s, while the event loop keeps
serving everything else. Implements ``actors.ports.PasswordHasher``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import anyio
import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from actors.errors import Throttled
from actors.ports.accounts import PasswordCheck
from actors.settings import PasswordSettings

#: What callers turned away by a full queue are told to wait.
RETRY_AFTER_S = 1


class Argon2Passwords:
    def __init__(
        self,
        *,
        memory_kib: int,
        time_cost: int,
        parallelism: int,
        max_concurrent: int,
        max_queued: int,
    ) -> None:
        # Hashes made under other parameters (or by passlib, the same PHC format) still
        # verify, and are flagged for re-hash.
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._max_concurrent = max_concurrent
        self._max_pending = max_concurrent + max_queued
        self._pending = 0
        # Created on first use: anyio primitives belong to a running event loop.
        self._limiter: anyio.CapacityLimiter | None = None
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, passwords: PasswordSettings) -> Argon2Passwords:
        return cls(
            memory_kib=passwords.memory_kib,
            time_cost=passwords.time_cost,
            parallelism=passwords.parallelism,
            max_concurrent=passwords.hash_concurrency,
            max_queued=passwords.hash_queue,
        )

    async def hash(self, password: str) -> str:
        return await self._in_worker(self._hash_now, password)

    def _hash_now(self, password: str) -> str:
        return self._hasher.hash(password)

    async def verify(self, password: str, stored: str | None) -> PasswordCheck:
        if stored is None:
            # Unknown account: spend the same time as for a real one, then refuse.
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
            await self._in_worker(self._check, password, self._dummy_hash)
            return PasswordCheck(ok=False)
        return await self._in_worker(self._check, password, stored)

    def _check(self, password: str, stored: str) -> PasswordCheck:
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError, ValueError):
            # A wrong password, or a corrupt or foreign hash, which can never match.
            return PasswordCheck(ok=False)
        stale = self._hasher.check_needs_rehash(stored)
        return PasswordCheck(ok=True, new_hash=self._hasher.hash(password) if stale else None)

    async def _in_worker[R](self, fn: Callable[..., R], *args: str) -> R:
        if self._pending >= self._max_pending:
            raise Throttled("too many password checks in progress; retry shortly", RETRY_AFTER_S)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_concurrent)
        self._pending += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        finally:
            self._pending -= 1
