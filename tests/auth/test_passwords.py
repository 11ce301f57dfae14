"""The argon2id adapter: parameters, re-hash flag, and the concurrency cap."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from actors.errors import Throttled
from store.passwords import Argon2Passwords
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


def hasher(**overrides: int) -> Argon2Passwords:
    values = {
        "memory_kib": 1024,
        "time_cost": 1,
        "parallelism": 1,
        "max_concurrent": 2,
        "max_queued": 8,
    }
    values.update(overrides)
    return Argon2Passwords(**values)


async def test_hashes_are_argon2id_with_the_configured_parameters() -> None:
    stored = await hasher(memory_kib=2048, time_cost=2).hash("a long passphrase")
    assert stored.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert "a long passphrase" not in stored


async def test_verify_accepts_the_password_and_nothing_else() -> None:
    passwords = hasher()
    stored = await passwords.hash("a long passphrase")
    assert (await passwords.verify("a long passphrase", stored)).ok
    assert not (await passwords.verify("a long passphrase ", stored)).ok
    assert not (await passwords.verify("", stored)).ok


async def test_outdated_parameters_ask_for_a_rehash() -> None:
    stored = await hasher(time_cost=1).hash("a long passphrase")
    check = await hasher(time_cost=2).verify("a long passphrase", stored)
    assert check.ok
    assert check.new_hash is not None
    assert check.new_hash.startswith("$argon2id$v=19$m=1024,t=2,p=1$")
    current = await hasher(time_cost=2).verify("a long passphrase", check.new_hash)
    assert current.new_hash is None


async def test_unknown_account_and_corrupt_hashes_never_match() -> None:
    passwords = hasher()
    assert not (await passwords.verify("anything", None)).ok
    assert not (await passwords.verify("anything", "not-a-hash")).ok
    assert not (await passwords.verify("anything", "$argon2id$v=19$m=1024,t=1,p=1$broken")).ok


async def test_hashing_does_not_block_the_event_loop() -> None:
    passwords = hasher(memory_kib=65536, time_cost=3)
    ticks = 0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await anyio.sleep(0.002)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        started = time.perf_counter()
        await passwords.hash("a long passphrase")
        elapsed = time.perf_counter() - started
        done.set()
    assert elapsed > 0.02, "the hash was too cheap to tell"
    assert ticks >= 3


async def test_at_most_max_concurrent_hashes_run_at_once() -> None:
    passwords = hasher(max_concurrent=2, max_queued=8)
    release = threading.Event()
    lock = threading.Lock()
    active = 0
    peak = 0

    def fake_hash(password: str) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        assert release.wait(timeout=10)
        with lock:
            active -= 1
        return "hashed"

    passwords._hash_now = fake_hash  # type: ignore[method-assign]  # the one hashing call

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(passwords.hash, "pw")
        await eventually(lambda: active >= 2, timeout_s=10, every_s=0.001)
        release.set()
    assert peak == 2


async def test_a_full_queue_answers_throttled_instead_of_waiting() -> None:
    passwords = hasher(max_concurrent=1, max_queued=1)
    release = threading.Event()

    def fake_hash(password: str) -> str:
        assert release.wait(timeout=10)
        return "hashed"

    passwords._hash_now = fake_hash  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(passwords.hash, "running")
        tg.start_soon(passwords.hash, "queued")
        await eventually(lambda: passwords._pending >= 2, timeout_s=10, every_s=0.001)
        with pytest.raises(Throttled) as refused:
            await passwords.hash("one too many")
        assert refused.value.retry_after >= 1
        release.set()


#: Made by passlib (libpass 1.9, argon2id, m=1024, t=1, p=1) before the move to argon2-cffi.
PASSLIB_HASH = (
    "$argon2id$v=19$m=1024,t=1,p=1$XkvpnZPyvnduzZlTinEuZQ"
    "$Bk+y++NIvsYgYOmyw9PhTxtSNvwdK9hqlTuKfapPR3c"
)


async def test_hashes_stored_by_passlib_still_verify() -> None:
    passwords = hasher()
    assert (await passwords.verify("correct horse battery staple", PASSLIB_HASH)).ok
    assert not (await passwords.verify("wrong horse", PASSLIB_HASH)).ok


async def test_a_hash_made_under_weaker_parameters_is_upgraded_on_login() -> None:
    check = await hasher(memory_kib=2048).verify("correct horse battery staple", PASSLIB_HASH)
    assert check.ok
    assert check.new_hash is not None
    assert "m=2048" in check.new_hash
