"""Content: create, edit, upload media, and the approval lifecycle (API.md, "Content,
playlists, schedules")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import anyio
from quart import Response, request
from werkzeug.exceptions import RequestTimeout

from actors.domain.content_items import ContentView
from actors.domain.media_types import IMAGE_TYPES, VIDEO_TYPES
from actors.pagination import ByCreation, BySeq
from actors.settings import Settings
from actors.usecases.content import (
    ContentList,
    ContentQuery,
    CreateContent,
    EditContent,
    RejectContent,
    RevisionList,
    RevisionQuery,
    StoredMedia,
)
from edge.api import ApiRouter, body, encoded, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("content", __name__, tag="content")

_CONTENT = "/api/v1/tenants/<uuid:tenant_id>/content"
_ONE = _CONTENT + "/<uuid:content_id>"


def _upload_limit(settings: Settings) -> int:
    return settings.content.max_upload_bytes


@router.post(
    _CONTENT,
    summary="Create content (a draft): image, video, url, html or text (editor)",
    request=CreateContent,
    response=ContentView,
    status=201,
    errors=(404,),
)
async def create_content(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(CreateContent)
    return encoded(await container().content.create(who, tenant_id, cmd), status=201)


@router.get(
    _CONTENT,
    summary="The tenant's content, newest first, optionally in one state (paged)",
    response=ContentList,
    query=ContentQuery,
    errors=(404,),
)
async def list_content(tenant_id: UUID) -> Response:
    who = await authenticated()
    q = query(ContentQuery)
    pager = Pager(q, ByCreation, "content", tenant_id, q.state)
    found = await container().content.list(who, tenant_id, q, pager.request)
    return encoded(ContentList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(_ONE, summary="One content item", response=ContentView, errors=(404,))
async def get_content(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().content.get(who, tenant_id, content_id))


@router.patch(
    _ONE,
    summary="Edit content; approved or rejected content gets a new draft revision (editor)",
    request=EditContent,
    response=ContentView,
    errors=(404, 409),
)
async def edit_content(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(EditContent)
    return encoded(await container().content.edit(who, tenant_id, content_id, cmd))


@router.get(
    _ONE + "/revisions",
    summary="A content item's revisions, newest first, and how each review ended (paged)",
    query=RevisionQuery,
    response=RevisionList,
    errors=(404,),
)
async def content_revisions(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    pager = Pager(query(RevisionQuery), BySeq, "revisions", tenant_id, content_id)
    found = await container().content.revisions(who, tenant_id, content_id, pager.request)
    return encoded(RevisionList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.put(
    _ONE + "/media",
    summary="Upload the image or video file (raw body with its Content-Type) (editor)",
    response=StoredMedia,
    errors=(404, 408, 409, 413, 415),
    max_body=_upload_limit,
    request_media=tuple(sorted(IMAGE_TYPES | VIDEO_TYPES)),
)
async def upload_media(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    chunks = _body_chunks(request.body_timeout, container().settings.content.upload_deadline_s)
    stored = await container().content.upload(
        who, tenant_id, content_id, request.headers.get("Content-Type"), chunks
    )
    return encoded(stored)


async def _body_chunks(idle_timeout_s: float | None, deadline_s: float) -> AsyncIterator[bytes]:
    """The request body as it arrives. A client silent for ``idle_timeout_s``, or still
    sending after ``deadline_s`` in all (a trickle of bytes that keeps a connection and a
    temporary file busy for hours), gets 408."""
    chunks = aiter(request.body)
    deadline = anyio.current_time() + deadline_s
    while True:
        left = deadline - anyio.current_time()
        wait = left if idle_timeout_s is None else min(idle_timeout_s, left)
        try:
            with anyio.fail_after(max(wait, 0.0)):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if anyio.current_time() >= deadline:
                raise RequestTimeout(
                    f"the upload took longer than {deadline_s:g} s (UPLOAD_DEADLINE_S)"
                ) from None
            raise RequestTimeout("the upload stalled") from None
        yield chunk


@router.post(
    _ONE + "/submit",
    summary="Submit the working draft for approval (editor)",
    response=ContentView,
    errors=(404, 409),
)
async def submit_content(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().content.submit(who, tenant_id, content_id))


@router.post(
    _ONE + "/withdraw",
    summary="Take a pending revision back to draft (editor)",
    response=ContentView,
    errors=(404, 409),
)
async def withdraw_content(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().content.withdraw(who, tenant_id, content_id))


@router.post(
    _ONE + "/approve",
    summary="Approve the pending revision: it plays from now (approver, not the submitter)",
    response=ContentView,
    errors=(403, 404, 409),
)
async def approve_content(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().content.approve(who, tenant_id, content_id))


@router.post(
    _ONE + "/reject",
    summary="Reject the pending revision with a reason (approver)",
    request=RejectContent,
    response=ContentView,
    errors=(404, 409),
)
async def reject_content(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(RejectContent)
    return encoded(await container().content.reject(who, tenant_id, content_id, cmd))


@router.post(
    _ONE + "/archive",
    summary="Take approved content off every screen for good (editor)",
    response=ContentView,
    errors=(404, 409),
)
async def archive_content(tenant_id: UUID, content_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().content.archive(who, tenant_id, content_id))
