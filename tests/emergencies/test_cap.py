"""CAP 1.2 ingest end to end: the specification's examples (Appendix A: Alert, Update;
with a Cancel and an Exercise built from them) over HTTP, reaching real WebSocket
screens; duplicates; the area mapping; hostile and malformed bodies; RBAC, integration
tokens and cross-tenant callers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from quart.typing import TestClientProtocol as Client

from actors.domain.cap import CAP_MAX_BODY_BYTES
from actors.domain.rbac import Role
from actors.settings import Settings
from tests.auth.conftest import Caller, peer
from tests.emergencies.conftest import Approve, Connect, emergencies_of, trigger

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
NewTenant = Callable[..., Awaitable[dict[str, Any]]]
EXAMPLES = Path(__file__).parent / "cap_examples"
CAP_XML = "application/cap+xml"
#: A.2's expiry as printed; tests that need it showing move it to the future.
A2_EXPIRES = "2003-06-17T16:00:00-07:00"


@pytest.fixture
async def tenant_admin(tenant: dict[str, Any], new_user: NewUser) -> Caller:
    return await new_user(tenant["id"], Role.TENANT_ADMIN)


def example(name: str, **replace: str) -> bytes:
    """An example message, with ``old=new`` text replacements (``old`` as a keyword)."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def thunderstorm(expires_in: timedelta = timedelta(hours=1)) -> tuple[bytes, datetime]:
    """A.2 expiring ``expires_in`` from now (to the second), and that expiry."""
    expires = (datetime.now(UTC) + expires_in).replace(microsecond=0)
    body = (EXAMPLES / "a2_thunderstorm_alert.xml").read_bytes()
    return body.replace(A2_EXPIRES.encode(), expires.isoformat().encode()), expires


def with_status(body: bytes, status: str, identifier_suffix: str = "") -> bytes:
    text = body.decode()
    text = re.sub(r"<status>\w+</status>", f"<status>{status}</status>", text, count=1)
    if identifier_suffix:
        text = re.sub(
            r"<identifier>([^<]+)</identifier>",
            lambda m: f"<identifier>{m.group(1)}{identifier_suffix}</identifier>",
            text,
            count=1,
        )
    return text.encode()


def cap_url(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/cap"


async def post_cap(
    caller: Caller, tenant: dict[str, Any], body: bytes, content_type: str = CAP_XML
) -> tuple[int, dict[str, Any]]:
    response = await caller.client.post(
        cap_url(tenant),
        data=body,
        headers={**caller.headers, "Content-Type": content_type},
        scope_base=peer(caller.ip),
    )
    answer: dict[str, Any] = await response.get_json()
    return response.status_code, answer


async def active(caller: Caller, tenant: dict[str, Any]) -> list[dict[str, Any]]:
    response = await caller.get(emergencies_of(tenant) + "?active=true")
    body = await response.get_json()
    assert response.status_code == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def audit_of(new_user: NewUser, tenant: dict[str, Any], action: str) -> list[dict[str, Any]]:
    auditor = await new_user(tenant["id"], Role.AUDITOR)
    trail = await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit?action={action}")
    body = await trail.get_json()
    assert trail.status_code == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


# --- the specification's examples --------------------------------------------------------


async def test_the_spec_alert_triggers_an_emergency_that_reaches_the_screen(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Lobby")
    async with play(screen) as player:
        status, body = await post_cap(operator, tenant, example("a1_hsas_alert.xml"))
        assert (status, body["action"]) == (201, "triggered"), body
        frame = await player.emergency()
    assert frame["type"] == "emergency"
    assert frame["id"] == body["emergency_id"]
    assert frame["mode"] == "live"
    assert frame["severity"] == "critical"  # Severe
    assert frame["expires_at"] is None  # A.1 has no expiry
    assert frame["message"] == (
        "Homeland Security Sets Code ORANGE\n\n"
        "The Department of Homeland Security has elevated the Homeland Security Advisory "
        "System threat level to ORANGE / High in response to intelligence which may "
        "indicate a heightened threat of terrorism.\n\n"
        "A preliminary Code ORANGE Protective Measures are being implemented at all levels."
    )
    [shown] = await active(operator, tenant)
    assert shown["target"] == {"all": True}
    assert shown["started_by"] == f"user:{operator.user_id}"


async def test_the_same_alert_twice_triggers_once(operator: Caller, tenant: dict[str, Any]) -> None:
    first = await post_cap(operator, tenant, example("a1_hsas_alert.xml"))
    again = await post_cap(operator, tenant, example("a1_hsas_alert.xml"))
    assert first[0] == 201
    assert again == (200, {"action": "duplicate", "emergency_id": first[1]["emergency_id"]})
    assert len(await active(operator, tenant)) == 1


async def test_concurrent_copies_of_one_alert_trigger_once(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    answers: list[tuple[int, dict[str, Any]]] = []

    async def send() -> None:
        answers.append(await post_cap(operator, tenant, example("a1_hsas_alert.xml")))

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(send)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 5 + [201], answers
    assert len({body["emergency_id"] for _, body in answers}) == 1
    assert len(await active(operator, tenant)) == 1


async def test_the_spec_update_replaces_the_message_on_the_screen(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect, new_user: NewUser
) -> None:
    screen = await approved("Lobby")
    async with play(screen) as player:
        status, alert = await post_cap(operator, tenant, example("earthquake_alert.xml"))
        assert status == 201, alert
        first = await player.emergency()
        assert (first["id"], first["severity"]) == (alert["emergency_id"], "info")  # Minor
        status, update = await post_cap(operator, tenant, example("a3_earthquake_update.xml"))
        assert (status, update["action"]) == (200, "updated"), update
        # The new text first, then the old one goes: the screen is never blank.
        replacement = await player.emergency()
        assert replacement["type"] == "emergency"
        assert replacement["id"] == update["emergency_id"] != alert["emergency_id"]
        assert replacement["message"].endswith(
            "(This event has now been reviewed by a seismologist)"
        )
        assert replacement["seq"] == first["seq"] + 1
        gone = await player.emergency()
        assert gone == {
            "type": "emergency_clear",
            "id": alert["emergency_id"],
            "seq": first["seq"] + 2,
        }
    assert [e["id"] for e in await active(operator, tenant)] == [update["emergency_id"]]
    old = await (await operator.get(f"{emergencies_of(tenant)}/{alert['emergency_id']}")).get_json()
    assert (old["active"], old["end_reason"]) == (False, "cleared")
    [cleared] = await audit_of(new_user, tenant, "emergency.clear")
    assert cleared["details"]["replaced_by"] == f"emergency:{update['emergency_id']}"
    assert cleared["details"]["cap"]["identifier"] == "TRI13970876.2"


async def test_concurrent_updates_of_one_alert_leave_one_emergency_showing(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    await post_cap(operator, tenant, example("earthquake_alert.xml"))
    answers: list[tuple[int, dict[str, Any]]] = []

    async def update(n: int) -> None:
        body = example("a3_earthquake_update.xml", **{"TRI13970876.2": f"TRI13970876.2-{n}"})
        answers.append(await post_cap(operator, tenant, body))

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(update, n)
    # The thread is locked per message: each update replaces the one before it.
    assert sorted((status, body["action"]) for status, body in answers) == [(200, "updated")] * 5
    [showing] = await active(operator, tenant)
    assert showing["id"] in {body["emergency_id"] for _, body in answers}


async def test_a_cancel_clears_the_alert_on_the_screen_and_a_repeat_changes_nothing(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Lobby")
    body, expires = thunderstorm()
    async with play(screen) as player:
        status, alert = await post_cap(operator, tenant, body)
        assert status == 201, alert
        frame = await player.emergency()
        # Never before the CAP expiry; after it by at most the rounding to a second.
        shown_until = datetime.fromisoformat(frame["expires_at"])
        assert expires <= shown_until < expires + timedelta(seconds=2)
        assert frame["message"].startswith("SEVERE THUNDERSTORM WARNING\n\nAT 254 PM PDT")
        status, cancel = await post_cap(operator, tenant, example("cancel_thunderstorm.xml"))
        assert (status, cancel) == (
            200,
            {"action": "cleared", "emergency_id": alert["emergency_id"]},
        )
        assert await player.emergency() == {
            "type": "emergency_clear",
            "id": alert["emergency_id"],
            "seq": frame["seq"] + 1,
        }
    again = await post_cap(operator, tenant, example("cancel_thunderstorm.xml"))
    assert again == (200, {"action": "duplicate", "emergency_id": alert["emergency_id"]})
    assert await active(operator, tenant) == []


async def test_a_cancel_after_an_update_clears_the_update(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    await post_cap(operator, tenant, example("earthquake_alert.xml"))
    _, update = await post_cap(operator, tenant, example("a3_earthquake_update.xml"))
    # References only the first alert: the thread leads to the update's emergency.
    cancel = example(
        "cancel_thunderstorm.xml",
        **{
            "KSTO1055887204": "TRI13970876.3",
            "<sender>KSTO@NWS.NOAA.GOV</sender>": "<sender>trinet@caltech.edu</sender>",
            "KSTO@NWS.NOAA.GOV,KSTO1055887203,2003-06-17T14:57:00-07:00": (
                "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00"
            ),
        },
    )
    assert await post_cap(operator, tenant, cancel) == (
        200,
        {"action": "cleared", "emergency_id": update["emergency_id"]},
    )
    assert await active(operator, tenant) == []


async def test_a_cancel_of_an_unknown_alert_is_accepted_and_ignored(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    status, body = await post_cap(operator, tenant, example("cancel_thunderstorm.xml"))
    assert (status, body["action"]) == (202, "ignored"), body


async def test_the_spec_thunderstorm_as_printed_has_expired_and_is_ignored(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    status, body = await post_cap(operator, tenant, example("a2_thunderstorm_alert.xml"))
    assert (status, body["action"]) == (202, "ignored")
    assert "expired" in body["reason"]
    assert await active(operator, tenant) == []


async def test_the_multilingual_spec_alert_shows_its_first_language(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    status, body = await post_cap(operator, tenant, example("a4_amber_alert.xml"))
    assert status == 201, body
    [shown] = await active(operator, tenant)
    assert shown["message"].startswith("Amber Alert in Los Angeles County\n\nDATE/TIME:")
    assert "Alerta Amber" not in shown["message"]
    assert shown["severity"] == "critical"


async def test_an_exercise_is_a_drill_on_the_screen(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Lobby")
    async with play(screen) as player:
        status, body = await post_cap(operator, tenant, example("exercise_hsas.xml"))
        assert (status, body["action"]) == (201, "triggered"), body
        frame = await player.emergency()
    assert (frame["id"], frame["mode"]) == (body["emergency_id"], "drill")
    test_status = with_status(example("a1_hsas_alert.xml"), "Test", "-test")
    status, tested = await post_cap(operator, tenant, test_status)
    assert status == 201, tested
    drills = await (await operator.get(emergencies_of(tenant) + "?mode=drill")).get_json()
    assert {e["id"] for e in drills["items"]} == {body["emergency_id"], tested["emergency_id"]}


async def test_an_exercise_can_neither_start_during_nor_touch_a_live_alert(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    _, live = await post_cap(operator, tenant, example("earthquake_alert.xml"))
    status, body = await post_cap(operator, tenant, example("exercise_hsas.xml"))
    assert status == 409, body
    exercise_update = with_status(example("a3_earthquake_update.xml"), "Exercise")
    status, body = await post_cap(operator, tenant, exercise_update)
    assert status == 409, body
    assert "live" in body["detail"]
    exercise_cancel = with_status(
        example(
            "cancel_thunderstorm.xml",
            **{
                "<sender>KSTO@NWS.NOAA.GOV</sender>": "<sender>trinet@caltech.edu</sender>",
                "KSTO@NWS.NOAA.GOV,KSTO1055887203,2003-06-17T14:57:00-07:00": (
                    "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00"
                ),
            },
        ),
        "Exercise",
    )
    status, body = await post_cap(operator, tenant, exercise_cancel)
    assert status == 409, body
    # Refused messages are not recorded: the live alert still shows, and may be retried.
    assert [e["id"] for e in await active(operator, tenant)] == [live["emergency_id"]]


async def test_a_live_alert_ends_a_cap_drill(operator: Caller, tenant: dict[str, Any]) -> None:
    _, drill = await post_cap(operator, tenant, example("exercise_hsas.xml"))
    _, live = await post_cap(operator, tenant, example("a1_hsas_alert.xml"))
    assert [e["id"] for e in await active(operator, tenant)] == [live["emergency_id"]]
    assert drill["emergency_id"] != live["emergency_id"]


@pytest.mark.parametrize("status", ["System", "Draft"])
async def test_system_and_draft_messages_are_accepted_and_ignored(
    operator: Caller, tenant: dict[str, Any], status: str
) -> None:
    answer = await post_cap(operator, tenant, with_status(example("a1_hsas_alert.xml"), status))
    assert answer[0] == 202
    assert answer[1]["action"] == "ignored"
    assert await active(operator, tenant) == []


async def test_audit_entries_name_the_cap_sender_and_identifier(
    operator: Caller, tenant: dict[str, Any], new_user: NewUser
) -> None:
    _, body = await post_cap(operator, tenant, example("a1_hsas_alert.xml"))
    [entry] = await audit_of(new_user, tenant, "emergency.trigger")
    assert entry["target"] == f"emergency:{body['emergency_id']}"
    assert entry["details"]["cap"] == {
        "sender": "hsas@dhs.gov",
        "identifier": "43b080713727",
        "sent": "2003-04-02T14:39:01-05:00",
        "status": "Actual",
        "msg_type": "Alert",
    }


async def test_cap_starts_and_ends_reach_the_tenants_webhooks(
    operator: Caller, tenant: dict[str, Any], settings: Settings
) -> None:
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        conn.execute(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_by)"
            " VALUES (gen_random_uuid(), %s, 'https://hooks.example.test/cap',"
            " '{emergency.triggered,emergency.cleared}', %s, 'test')",
            (tenant["id"], "whsec_" + "s" * 40),
        )
    await post_cap(operator, tenant, example("earthquake_alert.xml"))
    await post_cap(operator, tenant, example("a3_earthquake_update.xml"))
    body, _ = thunderstorm()
    await post_cap(operator, tenant, body)
    await post_cap(operator, tenant, example("cancel_thunderstorm.xml"))
    with psycopg.connect(settings.database.url) as conn:
        rows = conn.execute(
            "SELECT event_type, count(*) FROM webhook_deliveries WHERE tenant_id = %s"
            " GROUP BY event_type",
            (tenant["id"],),
        ).fetchall()
    # Triggered: the alert, the update's replacement, the storm; cleared: the replaced
    # alert, the cancelled storm.
    assert dict(rows) == {"emergency.triggered": 3, "emergency.cleared": 2}


# --- the area mapping --------------------------------------------------------------------


async def test_mapped_areas_target_their_groups_only(
    operator: Caller,
    tenant_admin: Caller,
    tenant: dict[str, Any],
    approved: Approve,
    play: Connect,
    new_user: NewUser,
) -> None:
    mapping = {
        "areas": [
            {"geocode": "SAME=006037", "groups": ["los-angeles"]},
            {"area_desc": "U.S.  nationwide and INTERESTS worldwide", "groups": ["national"]},
        ],
        "unmatched": "ignore",
    }
    response = await tenant_admin.client.put(
        cap_url(tenant) + "/areas", json=mapping, headers=tenant_admin.headers, scope_base=peer()
    )
    assert response.status_code == 200, await response.get_json()
    read = await operator.get(cap_url(tenant) + "/areas")
    assert await read.get_json() == mapping
    la = await approved("LA", groups=("los-angeles",))
    other = await approved("Other", groups=("elsewhere",))
    async with play(la) as a, play(other) as b:
        status, amber = await post_cap(operator, tenant, example("a4_amber_alert.xml"))
        assert status == 201, amber
        assert (await a.emergency())["id"] == amber["emergency_id"]
        status, hsas = await post_cap(operator, tenant, example("a1_hsas_alert.xml"))
        assert status == 201, hsas  # areaDesc compared without case or repeated spaces
        # Nothing reached the other screen: its first emergency is the next one for all.
        everyone = await trigger(operator, tenant)
        assert (await b.emergency())["id"] == everyone["id"]
    [shown] = [e for e in await active(operator, tenant) if e["id"] == amber["emergency_id"]]
    assert shown["target"] == {"groups": ["los-angeles"]}
    status, body = await post_cap(operator, tenant, example("earthquake_alert.xml"))
    assert (status, body["action"]) == (202, "ignored")  # unmapped area, unmatched: ignore
    [entry] = await audit_of(new_user, tenant, "cap.areas")
    assert entry["details"]["after"]["unmatched"] == "ignore"


async def test_unmapped_areas_reach_everyone_by_default(
    operator: Caller, tenant_admin: Caller, tenant: dict[str, Any]
) -> None:
    mapping = {"areas": [{"geocode": "SAME=006037", "groups": ["los-angeles"]}]}
    response = await tenant_admin.client.put(
        cap_url(tenant) + "/areas", json=mapping, headers=tenant_admin.headers, scope_base=peer()
    )
    assert (await response.get_json())["unmatched"] == "all"
    status, body = await post_cap(operator, tenant, example("earthquake_alert.xml"))
    assert status == 201, body
    [shown] = await active(operator, tenant)
    assert shown["target"] == {"all": True}


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"areas": [{"groups": ["a"]}]}, "areas[0]"),
        ({"areas": [{"area_desc": "X", "geocode": "A=1", "groups": ["a"]}]}, "areas[0]"),
        ({"areas": [{"geocode": "no-equals", "groups": ["a"]}]}, "areas[0].geocode"),
        ({"areas": [{"area_desc": "X", "groups": []}]}, "areas[0].groups"),
        (
            {"areas": [{"area_desc": "X", "groups": ["a"]}, {"area_desc": " x", "groups": ["b"]}]},
            "areas[1]",
        ),
        ({"unmatched": "drop"}, "unmatched"),
    ],
)
async def test_a_bad_mapping_is_422_naming_the_entry(
    tenant_admin: Caller, tenant: dict[str, Any], mapping: dict[str, Any], field: str
) -> None:
    response = await tenant_admin.client.put(
        cap_url(tenant) + "/areas", json=mapping, headers=tenant_admin.headers, scope_base=peer()
    )
    body = await response.get_json()
    assert response.status_code == 422, body
    assert body["field"] == field


async def test_only_tenant_admins_change_the_mapping(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    response = await operator.client.put(
        cap_url(tenant) + "/areas",
        json={"areas": []},
        headers=operator.headers,
        scope_base=peer(),
    )
    assert response.status_code == 403


# --- hostile and malformed bodies --------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>
"""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL_ENTITY, "DOCTYPE"),
        (EXTERNAL_DTD, "DOCTYPE"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>", "alert"),
        (b"not xml at all", "alert"),
        (
            example("a1_hsas_alert.xml").replace(b"emergency:cap:1.2", b"emergency:cap:1.1"),
            "alert",
        ),
        (
            example("a1_hsas_alert.xml", **{"<severity>Severe</severity>": ""}),
            "alert/info[1]/severity",
        ),
        (
            example(
                "a1_hsas_alert.xml", **{"<severity>Severe</severity>": "<severity>Bad</severity>"}
            ),
            "alert/info[1]/severity",
        ),
        (example("a1_hsas_alert.xml", **{"<sender>hsas@dhs.gov</sender>": ""}), "alert/sender"),
        (
            example("a1_hsas_alert.xml", **{"2003-04-02T14:39:01-05:00": "2003-04-02T14:39:01"}),
            "alert/sent",
        ),
        (
            example("a1_hsas_alert.xml", **{"<identifier>43b080713727": "<identifier>a b"}),
            "alert/identifier",
        ),
        (example("a1_hsas_alert.xml", **{"<msgType>Alert": "<msgType>Update"}), "alert/references"),
        (
            example("a3_earthquake_update.xml", **{",TRI13970876.1,": ",TRI13970876.1"}),
            "alert/references",
        ),
    ],
)
async def test_invalid_or_unsafe_cap_is_422_naming_the_element(
    operator: Caller, tenant: dict[str, Any], body: bytes, field: str
) -> None:
    status, answer = await post_cap(operator, tenant, body)
    assert status == 422, answer
    assert answer["field"] == field
    assert "root:" not in str(answer)  # /etc/passwd was never read
    assert await active(operator, tenant) == []


async def test_an_oversized_body_is_413(operator: Caller, tenant: dict[str, Any]) -> None:
    padding = b"<!--" + b"x" * CAP_MAX_BODY_BYTES + b"-->"
    status, answer = await post_cap(operator, tenant, example("a1_hsas_alert.xml") + padding)
    assert status == 413, answer
    assert await active(operator, tenant) == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded"]
)
async def test_another_content_type_is_415(
    operator: Caller, tenant: dict[str, Any], content_type: str
) -> None:
    status, answer = await post_cap(operator, tenant, example("a1_hsas_alert.xml"), content_type)
    assert status == 415, answer


async def test_application_xml_with_a_charset_is_accepted(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    status, answer = await post_cap(
        operator, tenant, example("a1_hsas_alert.xml"), "application/xml; charset=utf-8"
    )
    assert status == 201, answer


# --- who may send ------------------------------------------------------------------------


async def test_a_viewer_is_403_and_nobody_is_401(
    viewer: Caller, client: Client, tenant: dict[str, Any]
) -> None:
    status, _ = await post_cap(viewer, tenant, example("a1_hsas_alert.xml"))
    assert status == 403
    response = await client.post(
        cap_url(tenant),
        data=example("a1_hsas_alert.xml"),
        headers={"Content-Type": CAP_XML},
        scope_base=peer(),
    )
    assert response.status_code == 401


async def test_another_tenants_operator_is_404(
    tenant: dict[str, Any], new_tenant: NewTenant, new_user: NewUser, operator: Caller
) -> None:
    other = await new_tenant()
    stranger = await new_user(other["id"], Role.EMERGENCY_OPERATOR)
    status, _ = await post_cap(stranger, tenant, example("a1_hsas_alert.xml"))
    assert status == 404
    assert await active(operator, tenant) == []
    # The same message in the stranger's own tenant is its own alert.
    status, _ = await post_cap(stranger, other, example("a1_hsas_alert.xml"))
    assert status == 201


async def test_an_integration_token_with_the_role_sends_cap_as_itself(
    client: Client, tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    created = await tenant_admin.post(
        f"/api/v1/tenants/{tenant['id']}/integrations",
        {"name": "County CAP feed", "roles": ["emergency_operator"]},
    )
    integration = await created.get_json()
    assert created.status_code == 201, integration
    response = await client.post(
        cap_url(tenant),
        data=example("a1_hsas_alert.xml"),
        headers={"Authorization": f"Bearer {integration['token']}", "Content-Type": CAP_XML},
        scope_base=peer(),
    )
    body = await response.get_json()
    assert response.status_code == 201, body
    [entry] = await audit_of(new_user, tenant, "emergency.trigger")
    assert entry["actor"] == f"integration:{integration['id']}"
    assert entry["details"]["cap"]["sender"] == "hsas@dhs.gov"


async def test_a_suspended_tenant_is_409(
    admin: Caller, operator: Caller, tenant: dict[str, Any]
) -> None:
    # The operator's session ends with the suspension; a platform admin still reaches it.
    response = await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")
    assert response.status_code == 200
    status, body = await post_cap(admin, tenant, example("a1_hsas_alert.xml"))
    assert status == 409, body
