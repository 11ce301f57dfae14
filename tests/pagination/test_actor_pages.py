"""``/ops/actors`` pages a node's actors (kept in memory) by kind then id, like every list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from uuid import uuid4

from actors.domain.principal import Principal
from actors.domain.rbac import Role
from actors.pagination import ByActor, PageRequest
from actors.ports.uow import UnitOfWork
from actors.runtime import ActorSnapshot, Runtime, SupervisorSnapshot
from actors.usecases.ops import ActorsQuery, Ops

OPERATOR = Principal(
    user_id=uuid4(),
    tenant_id=None,
    email="ops@example.test",
    roles=frozenset({Role.PLATFORM_OPERATOR}),
)


def _snapshot(kind: str, id: str) -> ActorSnapshot:
    return ActorSnapshot(
        kind=kind,
        id=id,
        mailbox=0,
        restarts=0,
        last_message_at=None,
        status="running",
        supervisor="root",
        capacity=10,
        high_water=0,
        processed=0,
        crashes=0,
        dropped=0,
        overflows=0,
        started_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


class _Runtime:
    """The two reads ``Ops.actors`` makes of a runtime."""

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        self._snapshots = [_snapshot(k, i) for k, i in sorted(keys)]

    def snapshots(self, kind: str | None = None) -> list[ActorSnapshot]:
        return [s for s in self._snapshots if kind is None or s.kind == kind]

    def supervisors(self) -> list[SupervisorSnapshot]:
        return []


def _ops(keys: list[tuple[str, str]]) -> Ops:
    return Ops(cast(UnitOfWork, None), cast(Runtime, cast(Any, _Runtime(keys))), "node-a")


def test_actors_come_in_pages_by_kind_then_id_until_the_last() -> None:
    keys = [
        ("tenant", "t1"),
        ("device", "d2"),
        ("device", "d1"),
        ("device", "d3"),
        ("tenant", "t0"),
    ]
    ops = _ops(keys)
    seen: list[tuple[str, str]] = []
    after: ByActor | None = None
    for _ in range(10):
        listing, after = ops.actors(OPERATOR, ActorsQuery(), PageRequest(limit=2, after=after))
        assert listing.total == 5
        assert len(listing.items) <= 2
        seen += [(a.kind, a.id) for a in listing.items]
        if after is None:
            break
    assert seen == sorted(keys)


def test_a_kind_pages_only_its_own_actors() -> None:
    ops = _ops([("device", "d1"), ("device", "d2"), ("tenant", "t1")])
    listing, after = ops.actors(OPERATOR, ActorsQuery(kind="device"), PageRequest(limit=1))
    assert [a.id for a in listing.items] == ["d1"]
    assert listing.total == 2
    rest, end = ops.actors(OPERATOR, ActorsQuery(kind="device"), PageRequest(limit=1, after=after))
    assert [a.id for a in rest.items] == ["d2"]
    assert end is None
