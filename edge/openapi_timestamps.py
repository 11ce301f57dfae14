"""``format: date-time`` on every timestamp the API exchanges, derived from the types.

msgspec documents a ``datetime`` field as ``{"type": "string"}`` unless the field is
declared time-zone aware (``Meta(tz=True)``), because a naive datetime encodes without an
offset. This API never sends nor keeps a naive datetime (PostgreSQL ``timestamptz``, UTC
clocks; inputs are ``Instant``, which requires the offset), so every ``datetime`` on the
wire is an RFC 3339 date-time. :func:`mark_timestamps` walks each declared type beside the
schema msgspec generated for it and says so, wherever the datetime sits (a field, an
optional field, a list item, a dict value, a nested Struct).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec.inspect as mi

Schema = dict[str, Any]

_FIELDS = (mi.StructType, mi.DataclassType, mi.TypedDictType)


def mark_timestamps(
    types: Sequence[Any], schemas: Iterable[Schema], components: dict[str, Schema]
) -> None:
    """Add ``"format": "date-time"`` to every schema that stands for a ``datetime``.

    ``types``, ``schemas`` and ``components`` are the arguments and the results of one
    ``msgspec.json.schema_components`` call; ``$ref`` values name keys of ``components``
    by their last path segment. Schemas are changed in place.
    """
    walker = _Walker(components)
    for info, schema in zip(mi.multi_type_info(types), schemas, strict=True):
        walker.walk(info, schema)


class _Walker:
    def __init__(self, components: dict[str, Schema]) -> None:
        self._components = components
        self._seen: set[str] = set()

    def walk(self, t: mi.Type, schema: Schema) -> None:
        while isinstance(t, mi.Metadata):
            t = t.type
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name in self._seen:  # shared or recursive: one visit is enough
                return
            self._seen.add(name)
            schema = self._components[name]
        if isinstance(t, mi.DateTimeType):
            if schema.get("type") == "string":
                schema.setdefault("format", "date-time")
        elif isinstance(t, _FIELDS):
            properties = schema.get("properties", {})
            for field in t.fields:
                if field.encode_name in properties:
                    self.walk(field.type, properties[field.encode_name])
        elif isinstance(t, mi.CollectionType) and isinstance(schema.get("items"), dict):
            self.walk(t.item_type, schema["items"])
        elif isinstance(t, mi.DictType | mi.FrozenDictType):
            if isinstance(schema.get("additionalProperties"), dict):
                self.walk(t.value_type, schema["additionalProperties"])
        elif isinstance(t, mi.TupleType):
            for item, item_schema in zip(t.item_types, schema.get("prefixItems", []), strict=False):
                self.walk(item, item_schema)
        elif isinstance(t, mi.UnionType):
            self._walk_union(t, schema)

    def _walk_union(self, t: mi.UnionType, schema: Schema) -> None:
        # msgspec lists a union's members as: the plain ones in declaration order, then
        # its Struct members (one $ref, or a discriminated anyOf of them), then null.
        options: list[Schema] = schema.get("anyOf", [])
        members = [_unwrap(m) for m in t.types]
        plain = [m for m in members if not isinstance(m, mi.StructType | mi.NoneType)]
        for member, option in zip(plain, options, strict=False):
            self.walk(member, option)
        structs = {m.cls.__name__: m for m in members if isinstance(m, mi.StructType)}
        for option in _refs(options[len(plain) :]):
            name = option["$ref"].rsplit("/", 1)[-1]
            title = self._components.get(name, {}).get("title")
            if title in structs:
                self.walk(structs[title], option)


def _unwrap(t: mi.Type) -> mi.Type:
    while isinstance(t, mi.Metadata):
        t = t.type
    return t


def _refs(options: list[Schema]) -> Iterable[Schema]:
    for option in options:
        if "$ref" in option:
            yield option
        yield from _refs(option.get("anyOf", []))
