"""Every JSON body is read one way only: a key repeated within one object is 422 (two
parsers on one path must never see different requests), and every answer forbids framing
(issue 14, info items)."""

from __future__ import annotations

import pytest

from edge.bodies import refuse_duplicate_keys
from tests.auth.conftest import peer
from tests.content.conftest import Team

pytestmark = pytest.mark.anyio


async def post_raw(team: Team, path: str, raw: bytes) -> tuple[int, dict[str, object]]:
    answer = await team.editor.client.post(
        path,
        data=raw,
        headers={**team.editor.headers, "Content-Type": "application/json"},
        scope_base=peer(team.editor.ip),
    )
    return answer.status_code, await answer.get_json()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name":"A","kind":"text","body":"safe","body":"evil","duration_s":5}',
        b'{"name":"A","kind":"text","body":"b","duration_s":5,"metadata":{"k":"1","k":"2"}}',
    ],
)
async def test_a_repeated_key_is_422_naming_it(team: Team, raw: bytes) -> None:
    status, problem = await post_raw(team, f"{team.base}/content", raw)
    assert status == 422, problem
    assert problem["field"] in ("body", "k")
    listed = await team.viewer.get(f"{team.base}/content")
    assert (await listed.get_json())["items"] == []


async def test_the_same_key_in_different_objects_is_fine(team: Team) -> None:
    raw = b'{"name":"A","kind":"text","body":"b","duration_s":5,"metadata":{"name":"x"}}'
    status, problem = await post_raw(team, f"{team.base}/content", raw)
    assert status == 201, problem


def test_huge_numbers_and_deep_nesting_do_not_break_the_check() -> None:
    refuse_duplicate_keys(b'{"a":' + b"9" * 10_000 + b"}")
    refuse_duplicate_keys(b"[" * 50 + b"]" * 50)


async def test_answers_forbid_framing(team: Team) -> None:
    for answer in (
        await team.viewer.get(f"{team.base}/content"),
        await team.viewer.get(f"{team.base}/content/not-a-uuid"),
    ):
        assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
