"""Content over the admin API: creation, the approval lifecycle with four eyes, revisions,
listing, roles and tenant isolation (API.md, "Content, playlists, schedules")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from actors.domain.rbac import Role
from tests.auth.conftest import Caller
from tests.content.conftest import (
    Team,
    approved_content,
    create_content,
    ok,
)

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]


async def test_editor_creates_a_draft(team: Team) -> None:
    response = await team.editor.post(
        f"{team.base}/content",
        {
            "name": "Welcome",
            "kind": "html",
            "body": "<h1>Hi</h1>",
            "duration_s": 15,
            "valid_from": "2030-01-01T00:00:00Z",
            "valid_until": "2030-02-01T00:00:00+01:00",
        },
    )
    item = await ok(response, 201)
    assert item["state"] == "draft"
    assert item["kind"] == "html"
    assert item["revision"] == 1
    assert item["live_revision"] is None
    assert item["valid_until"] == "2030-01-31T23:00:00Z"
    assert item["created_by"] == team.editor.user_id
    fetched = await ok(await team.viewer.get(f"{team.base}/content/{item['id']}"))
    assert fetched == item


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "url", "duration_s": 5}, "uri"),
        ({"name": "x", "kind": "text", "duration_s": 5}, "body"),
        ({"name": "x", "kind": "text", "body": "b", "duration_s": 0}, "duration_s"),
        ({"name": "x", "kind": "url", "uri": "javascript:alert(1)", "duration_s": 5}, "uri"),
        ({"name": "x", "kind": "text", "body": "b", "duration_s": 5, "colour": 1}, "colour"),
        ({"name": "x", "kind": "gif", "duration_s": 5}, "kind"),
        (
            {
                "name": "x",
                "kind": "text",
                "body": "b",
                "duration_s": 5,
                "valid_from": "2030-01-02T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z",
            },
            "valid_until",
        ),
        (
            {"name": "x", "kind": "text", "body": "b", "duration_s": 5, "valid_from": "2030-01-02"},
            "valid_from",
        ),
    ],
)
async def test_invalid_content_is_refused_naming_the_field(
    team: Team, body: dict[str, Any], field: str
) -> None:
    response = await team.editor.post(f"{team.base}/content", body)
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "bad\u0000name"}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"body": "nul \u0000 byte"}, "body"),
        ({"metadata": {"note": "nul \u0000"}}, "metadata[...]"),  # msgspec names a dict value so
    ],
)
async def test_text_postgresql_cannot_store_is_422_not_500(
    team: Team, change: dict[str, Any], field: str
) -> None:
    body = {"name": "x", "kind": "text", "body": "b", "duration_s": 5, **change}
    response = await team.editor.post(f"{team.base}/content", body)
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == field
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    assert (await team.editor.patch(path, change)).status_code == 422
    await ok(await team.editor.post(f"{path}/submit"))
    rejected = await team.approver.post(f"{path}/reject", {"reason": "nul \u0000"})
    assert rejected.status_code == 422


async def test_only_editors_create_content(team: Team) -> None:
    body = {"name": "x", "kind": "text", "body": "b", "duration_s": 5}
    for caller in (team.viewer, team.approver, team.scheduler):
        response = await caller.post(f"{team.base}/content", body)
        assert response.status_code == 403


async def test_submit_then_approve_by_another_user(team: Team) -> None:
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    pending = await ok(await team.editor.post(f"{path}/submit"))
    assert pending["state"] == "pending_approval"
    assert pending["submitted_by"] == team.editor.user_id
    approved = await ok(await team.approver.post(f"{path}/approve"))
    assert approved["state"] == "approved"
    assert approved["live_revision"] == 1


async def test_the_submitter_cannot_approve_their_own_content(
    team: Team, new_user: NewUser
) -> None:
    both = await new_user(team.tenant_id, Role.EDITOR, Role.APPROVER)
    item = await ok(
        await both.post(
            f"{team.base}/content", {"name": "Mine", "kind": "text", "body": "b", "duration_s": 5}
        ),
        201,
    )
    path = f"{team.base}/content/{item['id']}"
    await ok(await both.post(f"{path}/submit"))
    response = await both.post(f"{path}/approve")
    problem = await response.get_json()
    assert response.status_code == 403, problem
    assert "other than its submitter" in problem["detail"]
    still = await ok(await team.viewer.get(path))
    assert still["state"] == "pending_approval"
    # Another approver may.
    assert (await ok(await team.approver.post(f"{path}/approve")))["state"] == "approved"


async def test_a_tenant_admin_holds_both_roles_but_not_four_eyes(
    team: Team, new_user: NewUser
) -> None:
    admin = await new_user(team.tenant_id, Role.TENANT_ADMIN)
    item = await ok(
        await admin.post(
            f"{team.base}/content", {"name": "A", "kind": "text", "body": "b", "duration_s": 5}
        ),
        201,
    )
    await ok(await admin.post(f"{team.base}/content/{item['id']}/submit"))
    response = await admin.post(f"{team.base}/content/{item['id']}/approve")
    assert response.status_code == 403


async def test_editors_cannot_approve_or_reject(team: Team) -> None:
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    await ok(await team.editor.post(f"{path}/submit"))
    assert (await team.editor.post(f"{path}/approve")).status_code == 403
    assert (await team.editor.post(f"{path}/reject", {"reason": "no"})).status_code == 403
    assert (await team.viewer.post(f"{path}/approve")).status_code == 403


async def test_reject_needs_a_reason_and_records_it(team: Team) -> None:
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    await ok(await team.editor.post(f"{path}/submit"))
    response = await team.approver.post(f"{path}/reject", {"reason": "   "})
    assert response.status_code == 422
    assert (await team.approver.post(f"{path}/reject", {})).status_code == 422
    rejected = await ok(await team.approver.post(f"{path}/reject", {"reason": "Typo in line 2"}))
    assert rejected["state"] == "rejected"
    assert rejected["rejection_reason"] == "Typo in line 2"
    assert rejected["live_revision"] is None


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], "approve"),
        ([], "archive"),
        ([], "withdraw"),
        (["submit"], "submit"),
        (["submit"], "archive"),
        (["submit", "approve"], "approve"),
        (["submit", "approve"], "submit"),
        (["submit", "approve", "archive"], "archive"),
        (["submit", "approve", "archive"], "submit"),
    ],
)
async def test_illegal_transitions_are_409(team: Team, setup: list[str], action: str) -> None:
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    for step in setup:
        caller = team.approver if step == "approve" else team.editor
        await ok(await caller.post(f"{path}/{step}"))
    before = await ok(await team.viewer.get(path))
    caller = team.approver if action == "approve" else team.editor
    response = await caller.post(f"{path}/{action}")
    assert response.status_code == 409, await response.get_json()
    assert await ok(await team.viewer.get(path)) == before


async def test_reject_of_a_draft_is_409(team: Team) -> None:
    item = await create_content(team)
    response = await team.approver.post(
        f"{team.base}/content/{item['id']}/reject", {"reason": "why"}
    )
    assert response.status_code == 409


async def test_editing_pending_or_archived_content_is_409(team: Team) -> None:
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    await ok(await team.editor.post(f"{path}/submit"))
    assert (await team.editor.patch(path, {"body": "changed"})).status_code == 409
    await ok(await team.approver.post(f"{path}/approve"))
    await ok(await team.editor.post(f"{path}/archive"))
    assert (await team.editor.patch(path, {"body": "changed"})).status_code == 409


async def test_editing_approved_content_starts_a_new_revision_the_old_keeps_playing(
    team: Team,
) -> None:
    item = await approved_content(team, body="Version one")
    path = f"{team.base}/content/{item['id']}"
    edited = await ok(await team.editor.patch(path, {"body": "Version two", "duration_s": 20}))
    assert edited["state"] == "draft"
    assert edited["revision"] == 2
    assert edited["live_revision"] == 1
    assert edited["body"] == "Version two"
    # A second edit of the draft changes revision 2 in place.
    again = await ok(await team.editor.patch(path, {"name": "Renamed"}))
    assert again["revision"] == 2
    await ok(await team.editor.post(f"{path}/submit"))
    rejected = await ok(await team.approver.post(f"{path}/reject", {"reason": "no"}))
    assert rejected["live_revision"] == 1  # the approved revision still plays
    revisions = await ok(await team.viewer.get(f"{path}/revisions"))
    assert [r["number"] for r in revisions["items"]] == [2, 1]
    newest, first = revisions["items"]
    assert newest["decision"] == "rejected"
    assert newest["reason"] == "no"
    assert newest["name"] == "Renamed"
    assert first["decision"] == "approved"
    assert first["decided_by"] == team.approver.user_id
    assert first["submitted_by"] == team.editor.user_id


async def test_editing_a_rejected_revision_keeps_it_on_record(team: Team) -> None:
    item = await create_content(team, body="first")
    path = f"{team.base}/content/{item['id']}"
    await ok(await team.editor.post(f"{path}/submit"))
    await ok(await team.approver.post(f"{path}/reject", {"reason": "no"}))
    edited = await ok(await team.editor.patch(path, {"body": "second"}))
    assert (edited["state"], edited["revision"]) == ("draft", 2)
    revisions = await ok(await team.viewer.get(f"{path}/revisions"))
    assert [(r["number"], r["decision"]) for r in revisions["items"]] == [
        (2, None),
        (1, "rejected"),
    ]


async def test_withdraw_returns_a_pending_revision_to_draft(team: Team) -> None:
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    await ok(await team.editor.post(f"{path}/submit"))
    draft = await ok(await team.editor.post(f"{path}/withdraw"))
    assert draft["state"] == "draft"
    assert draft["submitted_by"] is None
    edited = await ok(await team.editor.patch(path, {"body": "fixed"}))
    assert edited["revision"] == 1


async def test_metadata_changes_never_make_a_revision(team: Team) -> None:
    item = await approved_content(team, metadata={"campaign": "spring"})
    path = f"{team.base}/content/{item['id']}"
    edited = await ok(await team.editor.patch(path, {"metadata": {"campaign": "summer"}}))
    assert edited["metadata"] == {"campaign": "summer"}
    assert (edited["state"], edited["revision"]) == ("approved", 1)
    bad = await team.editor.patch(path, {"metadata": {"": "x"}})
    assert bad.status_code == 422


async def test_an_unchanged_edit_is_a_no_op(team: Team) -> None:
    item = await approved_content(team, body="same")
    path = f"{team.base}/content/{item['id']}"
    same = await ok(await team.editor.patch(path, {"body": "same"}))
    assert (same["state"], same["revision"]) == ("approved", 1)


async def test_archive_takes_approved_content_off_for_good(team: Team) -> None:
    item = await approved_content(team)
    path = f"{team.base}/content/{item['id']}"
    archived = await ok(await team.editor.post(f"{path}/archive"))
    assert archived["state"] == "archived"
    assert archived["live_revision"] is None


async def test_list_filters_by_state_newest_first(team: Team) -> None:
    first = await create_content(team, name="first")
    second = await approved_content(team, name="second")
    third = await create_content(team, name="third")
    everything = await ok(await team.viewer.get(f"{team.base}/content"))
    assert [i["id"] for i in everything["items"]] == [third["id"], second["id"], first["id"]]
    drafts = await ok(await team.viewer.get(f"{team.base}/content?state=draft"))
    assert {i["id"] for i in drafts["items"]} == {first["id"], third["id"]}
    approved = await ok(await team.viewer.get(f"{team.base}/content?state=approved"))
    assert [i["id"] for i in approved["items"]] == [second["id"]]
    page = await ok(await team.viewer.get(f"{team.base}/content?limit=1&offset=1"))
    assert [i["id"] for i in page["items"]] == [second["id"]]
    bad = await team.viewer.get(f"{team.base}/content?state=lost")
    assert bad.status_code == 422


async def test_other_tenants_content_is_404(
    team: Team, new_tenant: Callable[..., Awaitable[dict[str, Any]]], new_user: NewUser
) -> None:
    item = await approved_content(team)
    other = await new_tenant()
    outsider = await new_user(other["id"], Role.TENANT_ADMIN)
    path = f"{team.base}/content/{item['id']}"
    assert (await outsider.get(path)).status_code == 404
    assert (await outsider.post(f"{path}/archive")).status_code == 404
    assert (await outsider.get(f"{team.base}/content")).status_code == 404
    # Through its own tenant's path the id does not exist either.
    theirs = f"/api/v1/tenants/{other['id']}/content/{item['id']}"
    assert (await outsider.get(theirs)).status_code == 404
    assert (await outsider.post(f"{theirs}/archive")).status_code == 404


async def test_every_transition_is_audited(team: Team, new_user: NewUser) -> None:
    item = await approved_content(team)
    path = f"{team.base}/content/{item['id']}"
    await ok(await team.editor.post(f"{path}/archive"))
    auditor = await new_user(team.tenant_id, Role.AUDITOR)
    entries = await ok(await auditor.get(f"{team.base}/audit?limit=50"))
    mine = [e for e in entries["items"] if e["target"] == f"content:{item['id']}"]
    assert [e["action"] for e in reversed(mine)] == [
        "content.create",
        "content.submit",
        "content.approve",
        "content.archive",
    ]
    approve = next(e for e in mine if e["action"] == "content.approve")
    assert approve["actor"] == f"user:{team.approver.user_id}"
    assert approve["details"]["transition"]["from_state"] == "pending_approval"
    assert approve["details"]["transition"]["to_state"] == "approved"
    verify = await ok(await auditor.get(f"{team.base}/audit/verify"))
    assert verify["ok"] is True


async def test_the_openapi_document_describes_the_content_api(team: Team) -> None:
    document = await ok(await team.viewer.client.get("/openapi.json"))
    paths = document["paths"]
    base = "/api/v1/tenants/{tenant_id}"
    for path, method in [
        ("/content", "post"),
        ("/content", "get"),
        ("/content/{content_id}", "patch"),
        ("/content/{content_id}/media", "put"),
        ("/content/{content_id}/approve", "post"),
        ("/content/{content_id}/reject", "post"),
        ("/playlists/{playlist_id}", "put"),
        ("/schedules", "post"),
        ("/schedules/{schedule_id}", "delete"),
        ("/devices/{device_id}/manifest", "get"),
    ]:
        assert method in paths[base + path], (path, method)
    upload = paths[base + "/content/{content_id}/media"]["put"]
    assert "image/png" in upload["requestBody"]["content"]
    assert {"413", "415"} <= set(upload["responses"])
    assert "403" in paths[base + "/content/{content_id}/approve"]["post"]["responses"]
