"""Failed-login throttling, per account and per source address (429 + Retry-After)."""

from __future__ import annotations

import psycopg
import pytest
from quart.typing import TestClientProtocol as Client

from actors.domain.throttle import ThrottlePolicy, account_key, address_key
from actors.settings import Settings
from tests.auth.conftest import FAST_HASHING, PASSWORD, Caller, login
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

ACCOUNT_BUDGET = 3
ADDRESS_BUDGET = 6
BLOCK_S = 60


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(
        db_clean,
        **FAST_HASHING,
        login_account_max_failures=ACCOUNT_BUDGET,
        login_address_max_failures=ADDRESS_BUDGET,
        login_block_base_s=BLOCK_S,
    )


def unblock_all(database_url: str) -> None:
    """Let the clock run past every block (as the owner, instead of sleeping)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE login_throttle SET blocked_until = now() - interval '1 second'")


async def test_an_account_is_blocked_after_its_failure_budget(
    admin: Caller, client: Client, database_url: str
) -> None:
    for _ in range(ACCOUNT_BUDGET):
        assert (await login(client, admin.email, "wrong", ip="198.51.100.1")).status_code == 401
    # Blocked now, even with the right password and from another address.
    response = await login(client, admin.email, PASSWORD, ip="198.51.100.2")
    assert response.status_code == 429
    assert response.content_type == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= BLOCK_S
    # Once the block is over the right password works and clears the account's count.
    unblock_all(database_url)
    assert (await login(client, admin.email, PASSWORD, ip="198.51.100.2")).status_code == 200
    assert (await login(client, admin.email, "wrong", ip="198.51.100.2")).status_code == 401
    assert (await login(client, admin.email, PASSWORD, ip="198.51.100.2")).status_code == 200


async def test_blocks_grow_with_further_failures(
    admin: Caller, client: Client, database_url: str
) -> None:
    for _ in range(ACCOUNT_BUDGET):
        await login(client, admin.email, "wrong", ip="198.51.100.1")
    unblock_all(database_url)
    await login(client, admin.email, "wrong", ip="198.51.100.1")
    response = await login(client, admin.email, "wrong", ip="198.51.100.1")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > BLOCK_S


async def test_unknown_emails_are_throttled_like_real_accounts(client: Client) -> None:
    for _ in range(ACCOUNT_BUDGET):
        assert (
            await login(client, "ghost@example.test", "x", ip="198.51.100.3")
        ).status_code == 401
    response = await login(client, "ghost@example.test", "x", ip="198.51.100.4")
    assert response.status_code == 429


async def test_an_address_is_blocked_after_its_failure_budget(
    admin: Caller, client: Client
) -> None:
    attacker = "198.51.100.66"
    for i in range(ADDRESS_BUDGET):
        # A different account each time: no account reaches its own budget.
        assert (await login(client, f"guess{i}@example.test", "x", ip=attacker)).status_code == 401
    blocked = await login(client, admin.email, PASSWORD, ip=attacker)
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
    # The same account from elsewhere is fine: the address is blocked, not the account.
    assert (await login(client, admin.email, PASSWORD, ip="198.51.100.67")).status_code == 200


async def test_successes_never_count_against_an_address(admin: Caller, client: Client) -> None:
    # A building behind one NAT: many correct logins, then a few typos.
    nat = "192.0.2.200"
    for _ in range(3 * ADDRESS_BUDGET):
        assert (await login(client, admin.email, PASSWORD, ip=nat)).status_code == 200
    for i in range(ADDRESS_BUDGET - 1):
        assert (await login(client, f"typo{i}@example.test", "x", ip=nat)).status_code == 401
    assert (await login(client, admin.email, PASSWORD, ip=nat)).status_code == 200


def test_block_lengths_double_up_to_the_cap() -> None:
    policy = ThrottlePolicy(max_failures=5, window_s=3600, base_block_s=1, max_block_s=900)
    assert [policy.block_for(n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert [policy.block_for(n) for n in range(5, 10)] == [1, 2, 4, 8, 16]
    assert policy.block_for(15) == 900
    assert policy.block_for(10_000) == 900


def test_throttle_keys() -> None:
    assert account_key("a@example.test") != account_key("b@example.test")
    assert "a@example.test" not in account_key("a@example.test")
    assert address_key("203.0.113.9") == "address:203.0.113.9"
    assert address_key("::ffff:203.0.113.9") == "address:203.0.113.9"
    # One IPv6 subscriber holds a /64: all of it is one key.
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key(None) is None
    assert address_key("unknown") is None
