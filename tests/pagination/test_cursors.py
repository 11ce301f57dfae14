"""Cursors: opaque, tamper-evident, bound to their list; the page arithmetic behind them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from actors.errors import Invalid
from actors.pagination import ByCreation, ByName, BySeq, PageRequest
from edge.pagination import Cursors, scope_of

SECRET = "cursor-test-secret-" + "x" * 32
DEVICES = scope_of("devices", UUID(int=1))


def test_a_sealed_key_opens_to_the_same_key() -> None:
    cursors = Cursors(SECRET)
    key = ByCreation(datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid4())
    assert cursors.open(DEVICES, cursors.seal(DEVICES, key), ByCreation) == key


def test_a_cursor_is_url_safe_and_does_not_show_its_key_in_clear() -> None:
    cursor = Cursors(SECRET).seal(DEVICES, ByName("Lobby screen", UUID(int=7)))
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert "Lobby" not in cursor


def _refused(cursors: Cursors, cursor: str, scope: bytes = DEVICES) -> Invalid:
    with pytest.raises(Invalid) as raised:
        cursors.open(scope, cursor, ByName)
    assert raised.value.field == "cursor"
    return raised.value


def test_a_changed_key_is_refused() -> None:
    cursors = Cursors(SECRET)
    cursor = cursors.seal(DEVICES, ByName("a", UUID(int=1)))
    payload, mac = cursor.split(".")
    forged = base64.urlsafe_b64encode(b'["a","00000000-0000-0000-0000-000000000002"]')
    _refused(cursors, f"{forged.decode().rstrip('=')}.{mac}")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    _refused(cursors, f"{flipped}.{mac}")


def test_a_cursor_of_another_list_tenant_or_secret_is_refused() -> None:
    cursors = Cursors(SECRET)
    cursor = cursors.seal(DEVICES, ByName("a", UUID(int=1)))
    _refused(cursors, cursor, scope_of("devices", UUID(int=2)))
    _refused(cursors, cursor, scope_of("playlists", UUID(int=1)))
    _refused(Cursors(SECRET + "rotated"), cursor)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "abc.", ".abc", "a.b.c", "!!.??", "YQ.YQ"])
def test_garbage_is_refused(garbage: str) -> None:
    _refused(Cursors(SECRET), garbage)


def test_a_well_sealed_key_of_another_shape_is_refused() -> None:
    cursors = Cursors(SECRET)
    _refused(cursors, cursors.seal(DEVICES, BySeq(5)))


def test_a_page_reads_one_row_more_to_know_whether_another_follows() -> None:
    request = PageRequest[BySeq](limit=2)
    assert request.fetch == 3
    last = request.page([3, 2, 1], lambda n: BySeq(n))
    assert last.items == [3, 2]
    assert last.next == BySeq(2)
    exact = request.page([3, 2], lambda n: BySeq(n))
    assert exact.items == [3, 2]
    assert exact.next is None
    assert request.page([], lambda n: BySeq(n)).next is None
