"""CAP 1.2 alerts (OASIS Common Alerting Protocol): what a received message means for a
tenant's screens — pure.

The edge parses the XML (``edge/cap_xml.py``, hardened) into a :class:`CapAlert`; this
module decides what it asks for (:func:`disposition`), and turns it into the emergency a
trigger would start (:func:`new_emergency`): the severity mapping, the message text, the
expiry, and the target from the tenant's area mapping (:class:`CapAreaSettings`).
The operator-facing table is in ``docs/emergencies.md`` ("CAP 1.2").
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from actors.domain.devices import GroupName
from actors.domain.emergencies import MAX_EXPIRES_IN_S, MAX_MESSAGE_CHARS
from actors.domain.targets import EVERYONE, MAX_TARGET_GROUPS, GroupTarget, Target
from actors.errors import Invalid
from actors.protocol import EmergencyMode, Severity

#: The only namespace accepted (CAP 1.0 and 1.1 messages are refused, 422).
CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
#: Largest CAP body accepted (413 above it). CAP messages are text; an embedded resource
#: (``derefUri``) this large is not shown on a screen anyway.
CAP_MAX_BODY_BYTES = 256 * 1024
#: Longest ``sender`` / ``identifier`` kept (they are the idempotency key).
MAX_CAP_ID_CHARS = 500
#: Most ``info`` blocks, ``area`` blocks per info and ``geocode`` values per area read.
MAX_INFOS = 16
MAX_AREAS = 100
MAX_GEOCODES = 1000
#: Most entries in a tenant's area mapping.
MAX_AREA_MAPPINGS = 1000
#: What ends a message cut at the emergency message limit.
ELLIPSIS = "\u2026"

CapStatus = Literal["Actual", "Exercise", "System", "Test", "Draft"]
CapMsgType = Literal["Alert", "Update", "Cancel", "Ack", "Error"]
CapScope = Literal["Public", "Restricted", "Private"]
CapSeverity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
CapAction = Literal["triggered", "duplicate", "updated", "cleared", "ignored"]

#: ``info.severity`` → the emergency's severity (docs/emergencies.md, "CAP 1.2").
SEVERITY: dict[CapSeverity, Severity] = {
    "Extreme": "critical",
    "Severe": "critical",
    "Moderate": "warning",
    "Minor": "info",
    "Unknown": "info",
}
_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}


# --- the message, as parsed --------------------------------------------------------------


class CapRef(msgspec.Struct, frozen=True):
    """One entry of ``references``: ``sender,identifier,sent``."""

    sender: str
    identifier: str


class CapArea(msgspec.Struct, frozen=True):
    desc: str
    #: ``(valueName, value)`` pairs.
    geocodes: tuple[tuple[str, str], ...] = ()


class CapInfo(msgspec.Struct, frozen=True):
    event: str
    severity: CapSeverity
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    expires: datetime | None = None
    areas: tuple[CapArea, ...] = ()


class CapAlert(msgspec.Struct, frozen=True, kw_only=True):
    """A CAP 1.2 ``alert``, reduced to what the ingest uses (validated by the parser)."""

    identifier: str
    sender: str
    sent: datetime
    status: CapStatus
    msg_type: CapMsgType
    scope: CapScope
    references: tuple[CapRef, ...] = ()
    infos: tuple[CapInfo, ...] = ()

    @property
    def mode(self) -> EmergencyMode:
        """``Exercise`` and ``Test`` are drills; ``Actual`` is live."""
        return "drill" if self.status in ("Exercise", "Test") else "live"

    def audit_details(self) -> dict[str, object]:
        """How audit entries name the message (sender and identifier first)."""
        return {
            "sender": self.sender,
            "identifier": self.identifier,
            "sent": self.sent.isoformat(),
            "status": self.status,
            "msg_type": self.msg_type,
        }


# --- what it asks for --------------------------------------------------------------------


class Ignore(msgspec.Struct, frozen=True):
    """Accepted, nothing to show (202)."""

    reason: str


class Start(msgspec.Struct, frozen=True):
    """``Alert``: start an emergency."""


class Replace(msgspec.Struct, frozen=True):
    """``Update``: replace the referenced alert's emergency (or start one if none shows)."""


class Clear(msgspec.Struct, frozen=True):
    """``Cancel``: end the referenced alert's emergency."""


Disposition = Ignore | Start | Replace | Clear


def disposition(alert: CapAlert) -> Disposition:
    """What ``alert`` asks the tenant's screens for.

    :raises Invalid: (422, naming ``alert/references`` or ``alert/info``) for an Update or
        Cancel without references, or an Alert or Update without an ``info`` to show.
    """
    if alert.status in ("System", "Draft"):
        return Ignore(f"status {alert.status} is not shown on screens")
    if alert.msg_type in ("Ack", "Error"):
        return Ignore(f"msgType {alert.msg_type} acknowledges a message; nothing to show")
    if alert.msg_type in ("Update", "Cancel") and not alert.references:
        raise Invalid(f"a {alert.msg_type} must name references", field="alert/references")
    if alert.msg_type == "Cancel":
        return Clear()
    if not alert.infos:
        raise Invalid(f"an {alert.msg_type} needs an info block to show", field="alert/info")
    return Start() if alert.msg_type == "Alert" else Replace()


# --- the tenant's area mapping -----------------------------------------------------------

AreaText = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=1000, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"),
]
#: ``valueName=value``, e.g. ``SAME=006109``.
GeocodeText = Annotated[
    str,
    msgspec.Meta(min_length=3, max_length=1000, pattern=r"^[^=\x00-\x1f\x7f]+=[^\x00-\x1f\x7f]+$"),
]
Unmatched = Literal["all", "ignore"]


class AreaMapping(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One entry: an ``areaDesc`` (compared without regard to case or repeated spaces) or
    a ``geocode`` (``valueName=value``, exact), and the device groups it stands for."""

    groups: Annotated[list[GroupName], msgspec.Meta(min_length=1, max_length=MAX_TARGET_GROUPS)]
    area_desc: AreaText | None = None
    geocode: GeocodeText | None = None


class CapAreaSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PUT .../cap/areas``: how a tenant's CAP alerts find their screens.

    With no mapping every alert targets every screen. With one, an alert targets the
    groups its areas map to; ``unmatched`` says what an alert none of whose areas is
    mapped does: ``all`` (the default: shown everywhere — a real alert is never dropped
    by a gap in the mapping) or ``ignore`` (202, nothing shown).
    """

    areas: Annotated[list[AreaMapping], msgspec.Meta(max_length=MAX_AREA_MAPPINGS)] = msgspec.field(
        default_factory=list
    )
    unmatched: Unmatched = "all"

    def check(self) -> None:
        """:raises Invalid: (naming ``areas[i]``) unless each entry names exactly one of
        ``area_desc`` or ``geocode``, and no key is mapped twice."""
        seen: set[str] = set()
        for i, entry in enumerate(self.areas):
            if (entry.area_desc is None) == (entry.geocode is None):
                raise Invalid("give exactly one of area_desc or geocode", field=f"areas[{i}]")
            key = _key(entry)
            if key in seen:
                raise Invalid("this area is mapped twice", field=f"areas[{i}]")
            seen.add(key)

    def groups_of(self, areas: tuple[CapArea, ...]) -> frozenset[str]:
        """The groups ``areas`` map to (none: no area is mapped)."""
        table: dict[str, frozenset[str]] = {_key(e): frozenset(e.groups) for e in self.areas}
        found: set[str] = set()
        for area in areas:
            found |= table.get("area:" + normal_area(area.desc), frozenset())
            for name, value in area.geocodes:
                found |= table.get(
                    f"geocode:{name.strip().casefold()}={value.strip()}", frozenset()
                )
        return frozenset(found)


def normal_area(text: str) -> str:
    """``areaDesc`` as compared: case-folded, runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _key(entry: AreaMapping) -> str:
    if entry.area_desc is not None:
        return "area:" + normal_area(entry.area_desc)
    assert entry.geocode is not None
    name, _, value = entry.geocode.partition("=")
    return f"geocode:{name.strip().casefold()}={value.strip()}"


def target_of(alert: CapAlert, settings: CapAreaSettings) -> Target | None:
    """Whom ``alert`` is for in a tenant with ``settings``; ``None``: nobody (its areas are
    unmapped and the tenant ignores those)."""
    if not settings.areas:
        return EVERYONE
    areas = tuple(area for info in alert.infos for area in info.areas)
    if not areas:  # an alert without an area is for everyone it reaches
        return EVERYONE
    groups = settings.groups_of(areas)
    if groups:
        return GroupTarget(groups)
    return EVERYONE if settings.unmatched == "all" else None


# --- the emergency it starts -------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n{3,}")


def _clean(text: str | None) -> str:
    """Screen text: CR/LF and CR as LF, tabs and other controls as spaces, each line
    without trailing spaces, at most one empty line in a row."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def message_of(info: CapInfo) -> str:
    """The screen text: the headline (the event when there is none), then the
    description and the instruction, each as a paragraph; cut to the emergency message
    limit (ending in an ellipsis) when longer."""
    parts = [_clean(info.headline) or _clean(info.event)]
    parts += [_clean(info.description), _clean(info.instruction)]
    text = "\n\n".join(p for p in parts if p)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1].rstrip() + ELLIPSIS
    return text


def severity_of(alert: CapAlert) -> Severity:
    """The most severe of the alert's ``info`` blocks: a translation never understates."""
    return max((SEVERITY[i.severity] for i in alert.infos), key=_RANK.__getitem__)


def expires_in_s(alert: CapAlert, now: datetime) -> int | None:
    """Seconds until the latest ``info.expires`` (``None``: some info never expires),
    rounded up, at most the emergency limit (7 days); 0 when it has passed already."""
    ends = [info.expires for info in alert.infos]
    if not ends or any(end is None for end in ends):
        return None
    latest = max(end for end in ends if end is not None)
    left = (latest - now).total_seconds()
    return 0 if left <= 0 else min(MAX_EXPIRES_IN_S, math.ceil(left))


class CapEmergency(msgspec.Struct, frozen=True):
    """What an Alert or Update starts (a trigger's fields, from the CAP message)."""

    message: str
    severity: Severity
    target: Target
    expires_in_s: int | None
    mode: EmergencyMode


def new_emergency(
    alert: CapAlert, settings: CapAreaSettings, now: datetime
) -> CapEmergency | Ignore:
    """The emergency ``alert`` (an Alert or Update with an info) starts, or why none.

    The text comes from the first ``info`` (the sender's first language); the severity,
    the expiry and the areas from all of them.
    """
    left = expires_in_s(alert, now)
    if left == 0:
        return Ignore("the alert has expired already")
    target = target_of(alert, settings)
    if target is None:
        return Ignore("none of the alert's areas is mapped to a group of this tenant")
    message = message_of(alert.infos[0])
    if not message:
        raise Invalid("the info has no text to show", field="alert/info[1]/event")
    return CapEmergency(message, severity_of(alert), target, left, alert.mode)
