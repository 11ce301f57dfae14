"""The manifests use case against PostgreSQL with a controlled clock: versions move only
with the document, the horizon advances by leases, revoked devices lose their manifest,
and acknowledgements never go backwards nor past the version a device has."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
import psycopg
import pytest
from quart import Quart

from actors.domain.manifest_batch import DeviceScope
from actors.events import ManifestsChanged
from actors.settings import Settings
from actors.usecases.manifests import ManifestPolicy, Manifests
from tests.auth.conftest import container_of
from tests.content.conftest import (
    Team,
    approved_content,
    claimed_device,
    create_playlist,
    create_schedule,
    ok,
    settled,
)

pytestmark = pytest.mark.anyio

START = datetime(2031, 5, 5, 10, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[UUID, msgspec.Struct]] = []

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        self.events.append((tenant_id, message))
        return True


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The node's own horizon ticker stays out of the way of the controlled clock.
    return settings.updated(manifest_tick_s=3600.0, manifest_notice_max_ids=2)


async def use_case(app: Quart, team: Team) -> tuple[Manifests, Clock, Published]:
    await settled(app)  # the node's own recomputations are done
    container = container_of(app)
    clock, published = Clock(), Published()
    policy = ManifestPolicy.from_settings(container.settings)
    return Manifests(container.store, published, policy, clock=clock), clock, published


async def test_versions_move_only_when_documents_change(app: Quart, team: Team) -> None:
    devices = [await claimed_device(team, name=f"S{n}") for n in range(3)]
    manifests, clock, published = await use_case(app, team)
    tid = UUID(team.tenant_id)
    first = await manifests.recompute(tid, DeviceScope.all())
    assert (first.devices, first.changed) == (3, 3)  # planned at START: a new horizon
    assert first.version is not None
    # More than notice_max_ids changed: the notice says "any device".
    assert published.events == [(tid, ManifestsChanged(version=first.version, device_ids=None))]
    again = await manifests.recompute(tid, DeviceScope.all())
    assert (again.changed, again.version) == (0, None)
    assert len(published.events) == 1
    one = UUID(devices[0]["device_id"])
    clock.now += timedelta(hours=1)
    moved = await manifests.recompute(tid, DeviceScope.devices(one))
    assert (moved.devices, moved.changed, moved.version) == (1, 1, first.version + 1)
    assert published.events[-1] == (
        tid,
        ManifestsChanged(version=first.version + 1, device_ids=(one,)),
    )


async def test_the_horizon_is_advanced_under_a_lease(app: Quart, team: Team) -> None:
    await claimed_device(team)
    manifests, clock, _ = await use_case(app, team)
    tid = UUID(team.tenant_id)
    await manifests.recompute(tid, DeviceScope.all())
    assert tid not in await manifests.claim_due(limit=100)  # planned from this step
    clock.now += timedelta(hours=1)
    assert tid in await manifests.claim_due(limit=100)
    assert tid not in await manifests.claim_due(limit=100)  # another node holds the lease
    recomputed = await manifests.recompute(tid, DeviceScope.all())
    assert recomputed.changed == 1
    assert tid not in await manifests.claim_due(limit=100)


async def test_revoked_devices_lose_their_manifest(app: Quart, team: Team) -> None:
    kept = await claimed_device(team, name="kept")
    gone = await claimed_device(team, name="gone")
    manifests, _, _ = await use_case(app, team)
    tid = UUID(team.tenant_id)
    await manifests.recompute(tid, DeviceScope.all())
    known = {UUID(kept["device_id"]): 0, UUID(gone["device_id"]): 0}
    assert set(await manifests.frames(tid, known)) == set(known)
    await ok(await team.manager.post(f"{team.base}/devices/{gone['device_id']}/revoke"))
    await manifests.recompute(tid, DeviceScope.all())
    assert set(await manifests.frames(tid, known)) == {UUID(kept["device_id"])}


async def test_frames_carry_the_stored_version_and_are_shared(app: Quart, team: Team) -> None:
    a = await claimed_device(team, name="a")
    b = await claimed_device(team, name="b")
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    await create_schedule(team, playlist["id"])
    manifests, _, _ = await use_case(app, team)
    tid = UUID(team.tenant_id)
    ids = [UUID(a["device_id"]), UUID(b["device_id"])]
    frames = await manifests.frames(tid, dict.fromkeys(ids, 0))
    (va, fa), (vb, fb) = frames[ids[0]], frames[ids[1]]
    assert va == vb
    assert fa is fb  # one string for both screens
    assert fa.startswith(f'{{"type":"manifest","version":{va},')
    assert await manifests.frames(tid, dict.fromkeys(ids, va)) == {}


async def test_a_tenant_is_read_whole_with_its_devices_yet_unplanned(
    app: Quart, team: Team, settings: Settings
) -> None:
    planned = await claimed_device(team, name="planned")  # the claim computes its manifest
    unplanned = await claimed_device(team, name="unplanned")
    revoked = await claimed_device(team, name="revoked")
    await ok(await team.manager.post(f"{team.base}/devices/{revoked['device_id']}/revoke"))
    manifests, _, _ = await use_case(app, team)
    tid = UUID(team.tenant_id)
    assert settings.database.url is not None
    async with await psycopg.AsyncConnection.connect(settings.database.url) as conn:
        await conn.execute(  # as for a device provisioned outside the claim
            "DELETE FROM device_manifests WHERE device_id = %s", (unplanned["device_id"],)
        )
        await conn.commit()
    stored = await manifests.current(tid)
    did = UUID(planned["device_id"])
    assert stored.frames == await manifests.frames(tid, {did: 0})
    assert stored.unplanned == (UUID(unplanned["device_id"]),)


async def test_acknowledgements_never_go_backwards_nor_ahead(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    manifests, _, _ = await use_case(app, team)
    tid = UUID(team.tenant_id)
    did = UUID(device["device_id"])
    version, _ = (await manifests.frames(tid, {did: 0}))[did]
    at = datetime.now(UTC)
    assert await manifests.record_acks([(tid, did, version + 5, at)]) == 0  # never sent
    assert await manifests.record_acks([(tid, did, 0, at)]) == 0  # not a version
    assert await manifests.record_acks([(tid, did, version, at), (tid, did, version - 1, at)]) == 1
    shown = await ok(await team.viewer.get(f"{team.base}/devices/{did}/manifest"))
    assert shown["acked_version"] == version
    assert await manifests.record_acks([(tid, did, version - 1, at)]) == 0


async def test_a_poisoned_ack_does_not_discard_another_tenants_acks_in_its_batch(
    app: Quart, team: Team, new_tenant: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    """Issue 14, L2: one batch carries every tenant's acks; a version past bigint from one
    screen used to fail the statement for all of them."""
    device = await claimed_device(team)
    manifests, _, _ = await use_case(app, team)
    tid = UUID(team.tenant_id)
    did = UUID(device["device_id"])
    version, _ = (await manifests.frames(tid, {did: 0}))[did]
    attacker_tenant = UUID((await new_tenant())["id"])
    at = datetime.now(UTC)
    batch = [(attacker_tenant, uuid4(), 2**63, at), (tid, did, version, at), (tid, did, -1, at)]
    assert await manifests.record_acks(batch) == 1
    shown = await ok(await team.viewer.get(f"{team.base}/devices/{did}/manifest"))
    assert shown["acked_version"] == version
