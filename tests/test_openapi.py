"""``/openapi.json`` is a valid OpenAPI 3.1 document and says what every timestamp is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import msgspec
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from quart.typing import TestClientProtocol as Client

from edge.openapi_timestamps import mark_timestamps

pytestmark = pytest.mark.anyio

#: Property and parameter names that hold an instant (``start_time``/``end_time`` of a
#: schedule are local times of day, "HH:MM", and are not matched).
TIMESTAMP_NAME = re.compile(r"(^|_)at$|^since$|^until$|^valid_(from|until)$|^server_time$")


async def _document(client: Client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = await response.get_json()
    return document


async def test_the_served_document_validates_as_openapi_3_1(client: Client) -> None:
    document = await _document(client)
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


async def test_every_schema_has_a_bare_name_no_two_types_share_one(client: Client) -> None:
    """msgspec names a component by its module path when two types share a name: the
    contract would then spell out ``actors.usecases....``, and the two could be mistaken."""
    components = (await _document(client))["components"]["schemas"]
    assert [name for name in components if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name)] == []


def _string_options(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[Any]:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("type") == "string":
        yield schema
    for option in schema.get("anyOf", []):
        yield from _string_options(option, components)


def _timestamps(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, schema) of every property or parameter named like a timestamp."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if TIMESTAMP_NAME.search(name):
                yield f"{where}.{name}", prop
        if node.get("in") in ("query", "path") and TIMESTAMP_NAME.search(node.get("name", "")):
            yield f"{where}?{node['name']}", node["schema"]
        for key, value in node.items():
            yield from _timestamps(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _timestamps(value, f"{where}/{i}")


async def test_every_timestamp_in_requests_and_responses_is_a_date_time(
    client: Client,
) -> None:
    document = await _document(client)
    components = document["components"]["schemas"]
    found = list(_timestamps(document, ""))
    assert len(found) > 30, found  # the walk does reach the schemas
    missing = [
        where
        for where, schema in found
        if not any(s.get("format") == "date-time" for s in _string_options(schema, components))
    ]
    assert missing == []


class _Inner(msgspec.Struct, tag=True):
    seen: datetime


class _Other(msgspec.Struct, tag=True):
    n: int


class _Outer(msgspec.Struct):
    plain: datetime
    optional: datetime | None
    many: list[datetime]
    by_name: dict[str, datetime]
    nested: _Inner
    either: _Inner | _Other | None
    aware: Annotated[datetime, msgspec.Meta(tz=True)]
    text: str


def test_datetimes_are_marked_wherever_they_sit_in_a_type() -> None:
    schemas, components = msgspec.json.schema_components([_Outer])
    mark_timestamps([_Outer], schemas, components)
    props = components["_Outer"]["properties"]
    date_time = {"type": "string", "format": "date-time"}
    assert props["plain"] == date_time
    assert props["optional"]["anyOf"][0] == date_time
    assert props["many"]["items"] == date_time
    assert props["by_name"]["additionalProperties"] == date_time
    assert components["_Inner"]["properties"]["seen"] == date_time
    assert props["aware"] == date_time
    assert props["text"] == {"type": "string"}
    assert "format" not in str(components["_Other"])


async def test_ready_documents_its_503_with_the_readiness_body(client: Client) -> None:
    responses = (await _document(client))["paths"]["/ready"]["get"]["responses"]
    assert responses["503"]["content"] == responses["200"]["content"]


async def test_every_operation_with_a_path_parameter_documents_404(client: Client) -> None:
    document = await _document(client)
    missing = [
        f"{method} {path}"
        for path, item in document["paths"].items()
        for method, op in item.items()
        if "{" in path and "404" not in op["responses"]
    ]
    assert missing == []
