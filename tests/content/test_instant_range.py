"""Instants whose offset moves them outside the years 1 to 9999 in UTC are 422 naming the
field, never a 500 (issue 14, L3)."""

from __future__ import annotations

import pytest

from tests.content.conftest import Team, approved_content, create_content, create_playlist, ok

pytestmark = pytest.mark.anyio

TOO_EARLY = "0001-01-01T00:30:00+01:00"
TOO_LATE = "9999-12-31T23:30:00-01:00"


@pytest.mark.parametrize(("field", "value"), [("valid_from", TOO_EARLY), ("valid_until", TOO_LATE)])
async def test_content_validity_out_of_range_is_422(team: Team, field: str, value: str) -> None:
    body = {"name": "Edge", "kind": "text", "body": "hi", "duration_s": 5, field: value}
    answer = await team.editor.post(f"{team.base}/content", body)
    problem = await answer.get_json()
    assert answer.status_code == 422, problem
    assert problem["field"] == field
    item = await create_content(team)
    edited = await team.editor.patch(f"{team.base}/content/{item['id']}", {field: value})
    assert edited.status_code == 422
    assert (await edited.get_json())["field"] == field


async def test_extreme_but_representable_validity_is_kept(team: Team) -> None:
    item = await create_content(
        team, valid_from="0001-01-01T01:00:00+01:00", valid_until="9999-12-31T23:00:00Z"
    )
    assert item["valid_from"].startswith("0001-01-01T00:00:00")
    shown = await ok(await team.viewer.get(f"{team.base}/content/{item['id']}"))
    assert shown["valid_until"].startswith("9999-12-31T23:00:00")


@pytest.mark.parametrize(("field", "value"), [("starts_at", TOO_EARLY), ("ends_at", TOO_LATE)])
async def test_schedule_bounds_out_of_range_are_422(team: Team, field: str, value: str) -> None:
    playlist = await create_playlist(team, {"content_id": (await approved_content(team))["id"]})
    body = {"playlist_id": playlist["id"], "target": {"all": True}, "priority": 1, field: value}
    answer = await team.scheduler.post(f"{team.base}/schedules", body)
    problem = await answer.get_json()
    assert answer.status_code == 422, problem
    assert problem["field"] == field
