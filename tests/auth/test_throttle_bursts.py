"""Login throttling under concurrency: a burst of simultaneous guesses is checked no
faster than the same guesses one after another (issue 14, M1).

The password hasher here is the real one behind a gate: every check waits at the gate
until the test opens it, so the burst is truly simultaneous however fast the machine is.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from quart import Quart

from actors.domain.principal import RequestMeta
from actors.domain.throttle import KeyState, ThrottlePolicy, account_key
from actors.domain.tokens import AccessTokens
from actors.errors import Throttled, Unauthenticated
from actors.ports.accounts import PasswordCheck, PasswordHasher
from actors.settings import Settings
from actors.usecases.auth import Auth, AuthPolicy, Login
from tests.auth.conftest import FAST_HASHING, PASSWORD, Caller, container_of
from tests.conftest import make_settings
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

BUDGET = 5
BURST = 40
ATTACKER = RequestMeta(source_ip="198.51.100.7")
ELSEWHERE = RequestMeta(source_ip="198.51.100.8")


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(
        db_clean,
        **FAST_HASHING,
        login_account_max_failures=BUDGET,
        login_address_max_failures=BUDGET,
        login_block_base_s=60,
    )


class GatedPasswords:
    """The real hasher; ``verify`` waits at a gate the test opens (or fails on demand)."""

    def __init__(self, inner: PasswordHasher) -> None:
        self._inner = inner
        self.entered = 0
        self.gate = asyncio.Event()
        self.fail_with: Exception | None = None

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, password: str, stored: str | None) -> PasswordCheck:
        self.entered += 1
        if self.fail_with is not None:
            raise self.fail_with
        await asyncio.wait_for(self.gate.wait(), timeout=20)
        return await self._inner.verify(password, stored)


def gated_auth(app: Quart) -> tuple[Auth, GatedPasswords]:
    c = container_of(app)
    s = c.settings
    tokens = AccessTokens(
        secret=s.auth.jwt_secret,
        algorithm=s.auth.jwt_algo,
        issuer=s.auth.jwt_issuer,
        audience=s.auth.jwt_audience,
        ttl_s=s.auth.access_token_ttl_s,
    )
    gated = GatedPasswords(c.passwords)
    return Auth(c.store, gated, tokens, AuthPolicy.from_settings(s)), gated


async def outcome(auth: Auth, email: str, password: str, meta: RequestMeta) -> int:
    try:
        await auth.login(Login(email=email, password=password), meta)
    except Throttled:
        return 429
    except Unauthenticated:
        return 401
    return 200


async def burst(
    auth: Auth, gated: GatedPasswords, emails: list[str], meta: RequestMeta
) -> list[asyncio.Task[int]]:
    """Start one login per email, all released by one barrier; wait until each is at
    the gate or answered."""
    barrier = asyncio.Barrier(len(emails))

    async def attempt(i: int, email: str) -> int:
        await barrier.wait()
        return await outcome(auth, email, f"wrong guess {i}", meta)

    tasks = [asyncio.create_task(attempt(i, e)) for i, e in enumerate(emails)]
    await eventually(
        lambda: gated.entered + sum(t.done() for t in tasks) == len(tasks), timeout_s=20.0
    )
    return tasks


async def test_a_burst_of_wrong_passwords_is_checked_no_more_than_the_budget(
    app: Quart, admin: Caller
) -> None:
    auth, gated = gated_auth(app)
    tasks = await burst(auth, gated, [admin.email] * BURST, ATTACKER)
    # Before the fix all 40 reached the hasher.
    assert gated.entered == BUDGET
    # The right password inside the burst is refused before any hashing, from anywhere.
    assert await outcome(auth, admin.email, PASSWORD, ELSEWHERE) == 429
    assert gated.entered == BUDGET
    gated.gate.set()
    results = await asyncio.gather(*tasks)
    assert sorted(results) == [401] * BUDGET + [429] * (BURST - BUDGET)
    # The budget is spent: the account is blocked, the right password refused with it.
    assert await outcome(auth, admin.email, PASSWORD, ELSEWHERE) == 429
    assert gated.entered == BUDGET


async def test_a_burst_over_many_accounts_from_one_address_is_checked_no_more_than_its_budget(
    app: Quart, admin: Caller
) -> None:
    auth, gated = gated_auth(app)
    emails = [f"guess{i}@example.test" for i in range(BURST)]
    tasks = await burst(auth, gated, emails, ATTACKER)
    assert gated.entered == BUDGET
    assert await outcome(auth, admin.email, PASSWORD, ATTACKER) == 429
    gated.gate.set()
    results = await asyncio.gather(*tasks)
    assert sorted(results) == [401] * BUDGET + [429] * (BURST - BUDGET)
    assert await outcome(auth, admin.email, PASSWORD, ATTACKER) == 429
    # The account itself was never guessed at: from elsewhere it logs in.
    assert await outcome(auth, admin.email, PASSWORD, ELSEWHERE) == 200


async def test_an_attempt_that_fails_midway_gives_its_slot_back_uncounted(
    app: Quart, admin: Caller
) -> None:
    auth, gated = gated_auth(app)
    gated.fail_with = Throttled("hashing queue full", 1)
    for _ in range(3 * BUDGET):
        with pytest.raises(Throttled):
            await auth.login(Login(email=admin.email, password=PASSWORD), ATTACKER)
    gated.fail_with = None
    gated.gate.set()
    assert await outcome(auth, admin.email, PASSWORD, ATTACKER) == 200


async def test_a_reservation_its_node_never_settled_lapses(
    app: Quart, admin: Caller, database_url: str
) -> None:
    auth, gated = gated_auth(app)
    gated.gate.set()
    key = account_key(admin.email)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A node took every slot of the account, then died before settling any.
        conn.execute(
            "INSERT INTO login_throttle (key, failures, in_flight, in_flight_until)"
            " VALUES (%s, 0, %s, now() + interval '1 hour')",
            (key, BUDGET),
        )
        assert await outcome(auth, admin.email, PASSWORD, ELSEWHERE) == 429
        assert gated.entered == 0
        conn.execute("UPDATE login_throttle SET in_flight_until = now() - interval '1 second'")
    assert await outcome(auth, admin.email, PASSWORD, ELSEWHERE) == 200
    with psycopg.connect(database_url) as conn:
        # Settled and forgotten: nothing left to remember about the account.
        assert conn.execute(
            "SELECT count(*) FROM login_throttle WHERE key = %s", (key,)
        ).fetchone() == (0,)


def test_slots_follow_the_failures_left_then_one_at_a_time() -> None:
    policy = ThrottlePolicy(max_failures=5, window_s=3600, base_block_s=1, max_block_s=900)
    assert [policy.slots(n) for n in range(8)] == [5, 4, 3, 2, 1, 1, 1, 1]
    assert policy.refusal(KeyState(failures=0, in_flight=5, blocked_s=0)) == 0
    assert policy.refusal(KeyState(failures=0, in_flight=6, blocked_s=0)) == 1
    assert policy.refusal(KeyState(failures=3, in_flight=3, blocked_s=0)) == 1
    assert policy.refusal(KeyState(failures=7, in_flight=1, blocked_s=0)) == 0
    assert policy.refusal(KeyState(failures=7, in_flight=1, blocked_s=30)) == 30
