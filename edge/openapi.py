"""``/openapi.json``: an OpenAPI 3.1 document built from the routers' declarations.

Schemas come from the same msgspec Structs that validate requests and encode answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from edge.api import Operation
from edge.openapi_timestamps import mark_timestamps
from edge.problems import Problem

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_REF = "#/components/schemas/{name}"
_PARAM_SCHEMA: dict[str, dict[str, str]] = {
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer"},
}


def _path_and_params(path: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []
    for converter, name in _PARAM.findall(path):
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _PARAM_SCHEMA.get(converter, {"type": "string"}),
            }
        )
    return _PARAM.sub(r"{\2}", path), params


def _query_params(struct: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``in: query`` parameter per property of a query Struct's component schema."""
    params: list[dict[str, Any]] = []
    for field, prop in struct.get("properties", {}).items():
        prop = dict(prop)
        if prop.get("default") is None:
            prop.pop("default", None)
        # A query parameter is absent rather than null.
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if options:
            prop.update(options[0] if len(options) == 1 else {"anyOf": options})
        param: dict[str, Any] = {
            "name": field,
            "in": "query",
            "required": field in struct.get("required", []),
            "schema": prop,
        }
        if prop.pop("deprecated", False):
            param["deprecated"] = True
        if "description" in prop:
            param["description"] = prop.pop("description")
        params.append(param)
    return params


def _component(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The component a ``$ref`` schema names (a query Struct's, for its properties)."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    found: dict[str, Any] = components[ref.rsplit("/", 1)[-1]]
    return found


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": _REF.format(name="Problem")}}},
    }


_ERROR_TEXT = {
    401: "Missing or invalid credentials",
    403: "Insufficient role",
    404: "Not found (or another tenant's)",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Unsupported media type (judged from the bytes)",
    422: "Validation error naming the field",
    429: "Throttled; see Retry-After",
    503: "A dependency is unavailable",
}


def build_openapi(operations: Iterable[Operation], *, version: str) -> dict[str, Any]:
    ops = list(operations)
    types: list[Any] = [Problem]
    for op in ops:
        types.extend(t for t in (op.request, op.response, op.query) if t is not None)
    types = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    mark_timestamps(types, schemas, components)
    schema_of = dict(zip(types, schemas, strict=True))

    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        path, params = _path_and_params(op.path)
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{op.method}_{re.sub(r'\W+', '_', path).strip('_')}",
            "responses": {},
        }
        if op.query is not None:
            params = params + _query_params(_component(schema_of[op.query], components))
        if params:
            entry["parameters"] = params
        if op.request is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of[op.request]}},
            }
        elif op.request_media:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    kind: {"schema": {"type": "string", "contentMediaType": kind}}
                    for kind in op.request_media
                },
            }
        ok: dict[str, Any] = {"description": "Success"}
        if op.response is not None:
            ok["content"] = {op.media_type: {"schema": schema_of[op.response]}}
        elif op.media_type != "application/json":
            ok["content"] = {op.media_type: {}}
        entry["responses"][str(op.status)] = ok
        for status in op.same_body:
            entry["responses"][str(status)] = {**ok, "description": "Same body, other status"}
        codes = set(op.errors)
        if params and any(p["in"] == "path" for p in params):
            codes.add(404)  # no such resource, or a malformed id: no route matches it
        if op.request is not None or op.query is not None:
            codes.add(422)
        if op.auth is not None:
            codes.update((401, 403))
            entry["security"] = [{op.auth: []}]
        for code in sorted(codes - set(op.same_body)):
            entry["responses"][str(code)] = _error_response(_ERROR_TEXT.get(code, "Error"))
        paths.setdefault(path, {})[op.method] = entry

    return {
        "openapi": "3.1.0",
        "info": {"title": "Signage backend API", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "device": {"type": "http", "scheme": "bearer", "description": "device secret"},
            },
        },
    }
