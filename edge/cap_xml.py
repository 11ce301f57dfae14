"""CAP 1.2 XML → :class:`~actors.domain.cap.CapAlert`: the one place the ingest reads XML.

The body comes from outside (an alerting system, or whoever holds its credential), so
the parser is defusedxml's with every guard on: a document type declaration of any kind
is refused (no internal entities — "billion laughs" — and no external ones: no file or
URL is ever read), and so is an external reference. The body's size is bounded before
this runs (``CAP_MAX_BODY_BYTES``, 413). Only elements of the CAP 1.2 namespace are read;
others (an XML signature, extensions) are skipped.

Every refusal is :class:`~actors.errors.Invalid` (422) with ``field`` naming the element
as a path (``alert/info[1]/severity``, positions counted from 1).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import get_args
from xml.etree.ElementTree import Element

import defusedxml
import defusedxml.ElementTree as SafeET

from actors.domain.cap import (
    CAP_NAMESPACE,
    MAX_AREAS,
    MAX_CAP_ID_CHARS,
    MAX_GEOCODES,
    MAX_INFOS,
    CapAlert,
    CapArea,
    CapInfo,
    CapMsgType,
    CapRef,
    CapScope,
    CapSeverity,
    CapStatus,
)
from actors.errors import Invalid

_NS = "{" + CAP_NAMESPACE + "}"
#: Characters CAP 1.2 forbids in ``identifier`` and ``sender`` (besides white space).
_ID_FORBIDDEN = frozenset(",<&")
_URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
_CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
_CATEGORY = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
)  # fmt: skip


def parse_cap(body: bytes) -> CapAlert:
    """Parse and validate one CAP 1.2 ``alert``.

    :raises Invalid: (422) for XML that is malformed or carries a DTD, an entity or an
        external reference; a root other than a CAP 1.2 ``alert``; or a missing,
        repeated or invalid element (``field`` names it).
    """
    root = _document(body)
    if root.tag != _NS + "alert":
        if root.tag.endswith("}alert") or root.tag == "alert":
            raise Invalid(f"the alert must be in the namespace {CAP_NAMESPACE}", field="alert")
        raise Invalid("the document is not a CAP alert", field=_local(root.tag) or "alert")
    at = "alert"
    msg_type: CapMsgType = _choice(root, at, "msgType", get_args(CapMsgType))
    infos = _all(root, "info")
    if len(infos) > MAX_INFOS:
        raise Invalid(f"at most {MAX_INFOS} info blocks are read", field=f"{at}/info")
    return CapAlert(
        identifier=_ident(root, at, "identifier"),
        sender=_ident(root, at, "sender"),
        sent=_sent(root, at),
        status=_choice(root, at, "status", get_args(CapStatus)),
        msg_type=msg_type,
        scope=_choice(root, at, "scope", get_args(CapScope)),
        references=_references(root, at),
        infos=tuple(_info(info, f"{at}/info[{n}]") for n, info in enumerate(infos, 1)),
    )


def _document(body: bytes) -> Element:
    try:
        root: Element = SafeET.fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden:
        raise Invalid("a document type declaration is not allowed", field="DOCTYPE") from None
    except defusedxml.EntitiesForbidden as exc:
        raise Invalid(f"entity {exc.name!r} is not allowed", field="ENTITY") from None
    except defusedxml.ExternalReferenceForbidden:
        raise Invalid("external references are not allowed", field="DOCTYPE") from None
    except defusedxml.DefusedXmlException as exc:
        raise Invalid(f"unsafe XML: {exc}", field="alert") from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise Invalid(
            f"the body is not well-formed XML (line {line}, column {column})", field="alert"
        ) from None
    return root


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _all(parent: Element, name: str) -> list[Element]:
    return parent.findall(_NS + name)


def _one(parent: Element, at: str, name: str, *, required: bool) -> str | None:
    """The text of the single ``name`` child (stripped); ``None`` if absent and optional."""
    found = _all(parent, name)
    if len(found) > 1:
        raise Invalid(f"{name} may appear only once", field=f"{at}/{name}")
    if not found:
        if required:
            raise Invalid(f"{name} is required", field=f"{at}/{name}")
        return None
    if len(found[0]):
        raise Invalid(f"{name} holds text, not elements", field=f"{at}/{name}")
    text = (found[0].text or "").strip()
    if not text:
        if required:
            raise Invalid(f"{name} is empty", field=f"{at}/{name}")
        return None
    return text


def _required(parent: Element, at: str, name: str) -> str:
    text = _one(parent, at, name, required=True)
    assert text is not None
    return text


def _choice[T: str](parent: Element, at: str, name: str, allowed: tuple[T, ...]) -> T:
    text = _required(parent, at, name)
    for value in allowed:
        if text == value:
            return value
    raise Invalid(f"{name} must be one of {', '.join(allowed)}", field=f"{at}/{name}")


def _ident(parent: Element, at: str, name: str) -> str:
    text = _required(parent, at, name)
    if len(text) > MAX_CAP_ID_CHARS:
        raise Invalid(f"{name} is longer than {MAX_CAP_ID_CHARS}", field=f"{at}/{name}")
    if any(c.isspace() or c in _ID_FORBIDDEN or not c.isprintable() for c in text):
        raise Invalid(f"{name} may not hold spaces, commas, '<' or '&'", field=f"{at}/{name}")
    return text


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _time(parent: Element, at: str, name: str, *, required: bool = False) -> datetime | None:
    text = _one(parent, at, name, required=required)
    if text is None:
        return None
    when = _parse_time(text)
    if when is None:
        raise Invalid(
            f"{name} must be a date and time with its offset (2003-06-17T14:57:00-07:00)",
            field=f"{at}/{name}",
        )
    return when


def _sent(root: Element, at: str) -> datetime:
    sent = _time(root, at, "sent", required=True)
    assert sent is not None
    return sent


def _references(root: Element, at: str) -> tuple[CapRef, ...]:
    """``references``: white-space separated ``sender,identifier,sent`` triples."""
    text = _one(root, at, "references", required=False)
    if text is None:
        return ()
    refs: list[CapRef] = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts) or _parse_time(parts[2]) is None:
            raise Invalid(
                f"each reference is sender,identifier,sent: {triple[:80]!r} is not",
                field=f"{at}/references",
            )
        if max(len(parts[0]), len(parts[1])) > MAX_CAP_ID_CHARS:
            raise Invalid("a reference is too long", field=f"{at}/references")
        refs.append(CapRef(sender=parts[0], identifier=parts[1]))
    return tuple(refs)


def _info(info: Element, at: str) -> CapInfo:
    if not _all(info, "category"):
        raise Invalid("category is required", field=f"{at}/category")
    for n, category in enumerate(_all(info, "category"), 1):
        if (category.text or "").strip() not in _CATEGORY:
            raise Invalid(
                f"category must be one of {', '.join(_CATEGORY)}", field=f"{at}/category[{n}]"
            )
    _choice(info, at, "urgency", _URGENCY)
    _choice(info, at, "certainty", _CERTAINTY)
    areas = _all(info, "area")
    if len(areas) > MAX_AREAS:
        raise Invalid(f"at most {MAX_AREAS} areas are read", field=f"{at}/area")
    return CapInfo(
        event=_required(info, at, "event"),
        severity=_choice(info, at, "severity", get_args(CapSeverity)),
        headline=_one(info, at, "headline", required=False),
        description=_one(info, at, "description", required=False),
        instruction=_one(info, at, "instruction", required=False),
        expires=_time(info, at, "expires"),
        areas=tuple(_area(area, f"{at}/area[{n}]") for n, area in enumerate(areas, 1)),
    )


def _area(area: Element, at: str) -> CapArea:
    geocodes = _all(area, "geocode")
    if len(geocodes) > MAX_GEOCODES:
        raise Invalid(f"at most {MAX_GEOCODES} geocodes are read", field=f"{at}/geocode")
    pairs = []
    for n, geocode in enumerate(geocodes, 1):
        where = f"{at}/geocode[{n}]"
        pairs.append((_required(geocode, where, "valueName"), _required(geocode, where, "value")))
    return CapArea(desc=_required(area, at, "areaDesc"), geocodes=tuple(pairs))
