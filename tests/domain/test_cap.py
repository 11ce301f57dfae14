"""The CAP 1.2 rules, without I/O: the parser on the specification's examples and on
hostile input, the severity/text/expiry/target mapping, and what each message asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from actors.domain.cap import (
    ELLIPSIS,
    AreaMapping,
    CapAlert,
    CapArea,
    CapAreaSettings,
    CapEmergency,
    CapInfo,
    Clear,
    Ignore,
    Replace,
    Start,
    disposition,
    message_of,
    new_emergency,
    target_of,
)
from actors.domain.emergencies import MAX_EXPIRES_IN_S, MAX_MESSAGE_CHARS
from actors.domain.targets import EVERYONE, GroupTarget
from actors.errors import Invalid
from edge.cap_xml import parse_cap

EXAMPLES = Path(__file__).parents[1] / "emergencies" / "cap_examples"
NOW = datetime(2003, 6, 17, 21, 0, tzinfo=UTC)


def parsed(name: str) -> CapAlert:
    return parse_cap((EXAMPLES / name).read_bytes())


def alert(*infos: CapInfo, status: str = "Actual", msg_type: str = "Alert") -> CapAlert:
    return CapAlert(
        identifier="id-1",
        sender="sender@example.test",
        sent=NOW,
        status=status,  # type: ignore[arg-type]
        msg_type=msg_type,  # type: ignore[arg-type]
        scope="Public",
        infos=infos,
    )


def info(severity: str = "Severe", **kw: object) -> CapInfo:
    return msgspec.convert({"event": "Fire", "severity": severity, **kw}, CapInfo)


# --- the parser on the specification's examples --------------------------------------------


def test_the_spec_alert_parses_to_its_fields() -> None:
    a1 = parsed("a1_hsas_alert.xml")
    assert (a1.identifier, a1.sender, a1.status, a1.msg_type) == (
        "43b080713727",
        "hsas@dhs.gov",
        "Actual",
        "Alert",
    )
    assert a1.sent == datetime(2003, 4, 2, 19, 39, 1, tzinfo=UTC)
    [only] = a1.infos
    assert only.severity == "Severe"
    assert only.areas == (CapArea(desc="U.S. nationwide and interests worldwide"),)


def test_the_spec_thunderstorm_carries_its_expiry_and_geocodes() -> None:
    [storm] = parsed("a2_thunderstorm_alert.xml").infos
    assert storm.expires == datetime(2003, 6, 17, 23, 0, tzinfo=UTC)
    assert storm.areas[0].geocodes == (("SAME", "006109"), ("SAME", "006009"), ("SAME", "006003"))


def test_the_spec_update_names_what_it_references() -> None:
    a3 = parsed("a3_earthquake_update.xml")
    assert a3.msg_type == "Update"
    assert [(r.sender, r.identifier) for r in a3.references] == [
        ("trinet@caltech.edu", "TRI13970876.1")
    ]
    assert isinstance(disposition(a3), Replace)


def test_the_spec_multilingual_alert_keeps_both_infos_in_order() -> None:
    a4 = parsed("a4_amber_alert.xml")
    assert [i.headline for i in a4.infos] == [
        "Amber Alert in Los Angeles County",
        "Alerta Amber en el condado de Los Ángeles",
    ]


def test_exercise_and_test_are_drills() -> None:
    assert parsed("exercise_hsas.xml").mode == "drill"
    assert alert(info(), status="Test").mode == "drill"
    assert parsed("a1_hsas_alert.xml").mode == "live"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "DOCTYPE"),
        (b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', "DOCTYPE"),
        (b"<a><b></a>", "alert"),
        (b"", "alert"),
        (b"<alert/>", "alert"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "feed"),
    ],
)
def test_the_parser_refuses_unsafe_or_foreign_documents(body: bytes, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_cap(body)
    assert refused.value.field == field


def test_a_repeated_singleton_is_refused() -> None:
    body = (EXAMPLES / "a1_hsas_alert.xml").read_bytes()
    body = body.replace(b"<status>Actual</status>", b"<status>Actual</status><status>Test</status>")
    with pytest.raises(Invalid) as refused:
        parse_cap(body)
    assert refused.value.field == "alert/status"


# --- what a message asks for ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "msg_type", "wanted"),
    [
        ("Actual", "Alert", Start),
        ("Exercise", "Alert", Start),
        ("Actual", "Cancel", Clear),
        ("System", "Alert", Ignore),
        ("Draft", "Update", Ignore),
        ("Actual", "Ack", Ignore),
        ("Actual", "Error", Ignore),
    ],
)
def test_disposition_by_status_and_type(status: str, msg_type: str, wanted: type) -> None:
    message = alert(info(), status=status, msg_type=msg_type)
    if msg_type in ("Update", "Cancel"):
        message = msgspec.structs.replace(
            message, references=parsed("a3_earthquake_update.xml").references
        )
    assert isinstance(disposition(message), wanted)


def test_an_alert_without_info_is_invalid() -> None:
    with pytest.raises(Invalid) as refused:
        disposition(alert())
    assert refused.value.field == "alert/info"


# --- the mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cap", "ours"),
    [
        ("Extreme", "critical"),
        ("Severe", "critical"),
        ("Moderate", "warning"),
        ("Minor", "info"),
        ("Unknown", "info"),
    ],
)
def test_severity_mapping(cap: str, ours: str) -> None:
    planned = new_emergency(alert(info(cap)), CapAreaSettings(), NOW)
    assert isinstance(planned, CapEmergency)
    assert planned.severity == ours


def test_the_most_severe_info_wins() -> None:
    planned = new_emergency(alert(info("Minor"), info("Extreme")), CapAreaSettings(), NOW)
    assert isinstance(planned, CapEmergency)
    assert planned.severity == "critical"


def test_the_message_is_headline_description_instruction_cleaned() -> None:
    text = message_of(
        info(
            headline=" Fire\tAlarm ",
            description="Line one\r\nline two\n\n\n\nEnd",
            instruction="Go\x07",
        )
    )
    assert text == "Fire Alarm\n\nLine one\nline two\n\nEnd\n\nGo"


def test_the_event_stands_in_for_a_missing_headline() -> None:
    assert message_of(info(description="Details")) == "Fire\n\nDetails"


def test_a_long_message_is_cut_at_the_limit_with_an_ellipsis() -> None:
    text = message_of(info(headline="H", description="word " * 1000))
    assert len(text) == MAX_MESSAGE_CHARS
    assert text.endswith(ELLIPSIS)


def test_expiry_is_rounded_up_capped_and_past_expiry_is_ignored() -> None:
    soon = new_emergency(alert(info(expires=NOW + timedelta(seconds=10.2))), CapAreaSettings(), NOW)
    assert isinstance(soon, CapEmergency)
    assert soon.expires_in_s == 11
    later = new_emergency(alert(info(expires=NOW + timedelta(days=30))), CapAreaSettings(), NOW)
    assert isinstance(later, CapEmergency)
    assert later.expires_in_s == MAX_EXPIRES_IN_S
    never = new_emergency(alert(info(expires=NOW), info()), CapAreaSettings(), NOW)
    assert isinstance(never, CapEmergency)
    assert never.expires_in_s is None
    gone = new_emergency(alert(info(expires=NOW)), CapAreaSettings(), NOW)
    assert isinstance(gone, Ignore)


MAPPING = CapAreaSettings(
    areas=[
        AreaMapping(groups=["la"], geocode="SAME=006037"),
        AreaMapping(groups=["north", "hq"], area_desc="Building  North"),
    ]
)


def test_targets_from_the_mapping() -> None:
    amber = parsed("a4_amber_alert.xml")
    assert target_of(amber, CapAreaSettings()) == EVERYONE
    assert target_of(amber, MAPPING) == GroupTarget(frozenset({"la"}))
    north = alert(
        info(areas=[{"desc": "building north"}, {"desc": "LA", "geocodes": [["SAME", "006037"]]}])
    )
    assert target_of(north, MAPPING) == GroupTarget(frozenset({"la", "north", "hq"}))
    assert target_of(alert(info()), MAPPING) == EVERYONE  # no area: everyone
    elsewhere = parsed("a1_hsas_alert.xml")
    assert target_of(elsewhere, MAPPING) == EVERYONE
    ignoring = msgspec.structs.replace(MAPPING, unmatched="ignore")
    assert target_of(elsewhere, ignoring) is None
    assert isinstance(new_emergency(elsewhere, ignoring, NOW), Ignore)


def test_a_mapping_names_one_kind_per_entry_and_each_area_once() -> None:
    MAPPING.check()
    twice = CapAreaSettings(
        areas=[AreaMapping(groups=["a"], area_desc="X"), AreaMapping(groups=["b"], area_desc=" x ")]
    )
    with pytest.raises(Invalid) as refused:
        twice.check()
    assert refused.value.field == "areas[1]"
    with pytest.raises(Invalid):
        CapAreaSettings(areas=[AreaMapping(groups=["a"])]).check()
