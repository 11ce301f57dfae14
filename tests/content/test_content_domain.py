"""Pure rules added for content and manifests: magic bytes, frames by splicing, device
scopes, and batch planning that shares work between screens."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import pytest

from actors.domain.content_lifecycle import ContentLifecycle, ContentState
from actors.domain.content_types import ContentKind, ContentRevision
from actors.domain.device_manifests import frame_text
from actors.domain.manifest_batch import DeviceScope, Horizon, plan_batch
from actors.domain.manifest_plan import (
    ContentSnapshot,
    Playlist,
    PlaylistItem,
    canonical_json,
    plan_manifest,
)
from actors.domain.media_types import accepted_for, normalize_declared, sniff
from actors.domain.schedule_types import DeviceProfile, ScheduleEntry, Slice
from actors.domain.targets import DeviceTarget, GroupTarget, TenantTarget
from actors.protocol import ManifestFrame, encode_text

TENANT = UUID("00000000-0000-4000-8000-00000000000a")
NOW = datetime(2030, 3, 30, 22, 17, tzinfo=UTC)
HORIZON = Horizon(ahead=timedelta(hours=24), step=timedelta(hours=1))


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif", "image/avif"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x20ftypmp42", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x88matroska", None),  # Matroska, not WebM
        (b"\x00\x00\x00\x20ftypheic", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"<?xml version='1.0'?><svg/>", None),
        (b"%PDF-1.7", None),
        (b"MZ\x90\x00", None),
        (b"", None),
    ],
)
def test_media_types_are_recognised_by_their_first_bytes(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_declared_types_are_normalised() -> None:
    assert normalize_declared("IMAGE/JPG; charset=binary") == "image/jpeg"
    assert normalize_declared("  ") is None
    assert normalize_declared(None) is None
    assert accepted_for(ContentKind.TEXT) == frozenset()
    assert "video/webm" in accepted_for(ContentKind.VIDEO)


def _snapshot(content_id: UUID, revision: ContentRevision) -> ContentSnapshot:
    lifecycle = ContentLifecycle(
        ContentState.APPROVED,
        revision.number,
        live_revision=revision.number,
        submitted_by=UUID(int=9),
    )
    return ContentSnapshot(id=content_id, lifecycle=lifecycle, live=revision)


def test_a_spliced_frame_equals_the_encoded_frame() -> None:
    text, picture = UUID(int=1), UUID(int=2)
    contents = {
        text: _snapshot(
            text, ContentRevision(1, ContentKind.TEXT, "t", 5, body='quote " and \u00e9')
        ),
        picture: _snapshot(
            picture,
            ContentRevision(
                2,
                ContentKind.IMAGE,
                "p",
                9,
                valid_until=NOW + timedelta(hours=3),
                media_sha256="a" * 64,
                media_type="image/png",
            ),
        ),
    }
    playlist = Playlist(UUID(int=3), (PlaylistItem(text), PlaylistItem(picture, 4)))
    slices = (Slice(NOW, NOW + timedelta(hours=24), UUID(int=4), playlist.id),)
    manifest = plan_manifest(
        slices, {playlist.id: playlist}, contents, tenant_id=TENANT, media_base_url="https://m/"
    )
    document = canonical_json(manifest).decode()
    assert frame_text(42, document) == encode_text(ManifestFrame.of(42, manifest))
    with pytest.raises(ValueError, match="JSON object"):
        frame_text(1, "[]")


def test_device_scopes_merge_and_collapse() -> None:
    a, b = UUID(int=1), UUID(int=2)
    groups = DeviceScope.of_target(GroupTarget(frozenset({"lobby"})))
    devices = DeviceScope.of_target(DeviceTarget(frozenset({a})))
    merged = groups.merge(devices, max_named=10)
    assert merged == DeviceScope(groups=frozenset({"lobby"}), device_ids=frozenset({a}))
    assert merged.merge(DeviceScope.devices(b), max_named=2) == DeviceScope.all()
    assert DeviceScope.of_target(TenantTarget()).merge(devices, max_named=10) == DeviceScope.all()
    assert DeviceScope().empty
    assert not devices.empty
    assert DeviceScope.reached_by([], max_named=5).empty
    assert DeviceScope.reached_by([GroupTarget(frozenset({"x"})), TenantTarget()], max_named=5) == (
        DeviceScope.all()
    )


def _world(
    devices: int,
) -> tuple[
    list[DeviceProfile], list[ScheduleEntry], dict[UUID, Playlist], dict[UUID, ContentSnapshot]
]:
    content = UUID(int=100)
    contents = {content: _snapshot(content, ContentRevision(1, ContentKind.TEXT, "t", 5, body="b"))}
    playlist = Playlist(UUID(int=200), (PlaylistItem(content),))
    entries = [
        ScheduleEntry(
            id=UUID(int=300),
            playlist_id=playlist.id,
            target=GroupTarget(frozenset({"lobby"})),
            priority=1,
            created_at=NOW,
            start_time=time(8),
            end_time=time(18),
        ),
        ScheduleEntry(
            id=UUID(int=301),
            playlist_id=playlist.id,
            target=TenantTarget(),
            priority=0,
            created_at=NOW,
        ),
    ]
    zones = ("Europe/Berlin", "America/New_York")
    profiles = [
        DeviceProfile(
            id=UUID(int=1000 + n),
            timezone=zones[n % 2],
            groups=frozenset({"lobby"}) if n % 3 == 0 else frozenset(),
        )
        for n in range(devices)
    ]
    return profiles, entries, {playlist.id: playlist}, contents


def test_a_batch_plans_each_configuration_once() -> None:
    profiles, entries, playlists, contents = _world(600)
    plan = plan_batch(
        profiles,
        entries,
        playlists,
        contents,
        {},
        now=NOW,
        horizon=HORIZON,
        tenant_id=TENANT,
        media_base_url="https://m",
    )
    assert plan.devices == 600
    assert plan.distinct_timelines == 4  # two zones x (lobby or not)
    assert plan.plans == 3  # outside the lobby, both zones resolve alike: planned once
    assert len(plan.changed) == 600
    assert len(plan.documents) == 3  # outside the lobby, both zones play all day alike
    for document in plan.documents.values():
        assert document.starts_at == datetime(2030, 3, 30, 22, tzinfo=UTC)
        assert document.ends_at == document.starts_at + timedelta(hours=25)


def test_a_batch_reports_only_devices_whose_document_changed() -> None:
    profiles, entries, playlists, contents = _world(30)

    def plan(now: datetime, stored: dict[UUID, str]) -> dict[UUID, str]:
        return plan_batch(
            profiles,
            entries,
            playlists,
            contents,
            stored,
            now=now,
            horizon=HORIZON,
            tenant_id=TENANT,
            media_base_url="https://m",
        ).changed

    first = plan(NOW, {})
    assert plan(NOW, first) == {}
    # Within the same step, time alone changes nothing; the next step changes everything.
    assert plan(NOW + timedelta(minutes=40), first) == {}
    assert set(plan(NOW + timedelta(minutes=50), first)) == {p.id for p in profiles}


def test_a_device_in_an_unusable_zone_is_planned_in_utc() -> None:
    profiles, entries, playlists, contents = _world(2)
    odd = DeviceProfile(id=UUID(int=5), timezone="localtime")
    plan = plan_batch(
        [*profiles, odd],
        entries,
        playlists,
        contents,
        {},
        now=NOW,
        horizon=HORIZON,
        tenant_id=TENANT,
        media_base_url="https://m",
    )
    assert plan.substituted_zones == ("localtime",)
    assert odd.id in plan.changed
