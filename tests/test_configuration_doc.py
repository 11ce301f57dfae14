"""docs/configuration.md and the Settings model agree: every variable, its section, default
and constraint (the meaning column is the document's own)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from actors.settings import Variable, variables

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \| ([^|]*) \| ([^|]*) \|")


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def shown_default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{_number(value)}`"
    return f"`{value}`" if value != "" else "empty"


def shown_constraint(kind: object) -> str:
    info = msgspec.inspect.type_info(kind)
    if isinstance(info, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(f"`{v}`" for v in info.values)
    if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        if info.ge is not None and info.le is not None:
            return f"{_number(info.ge)} to {_number(info.le)}"
        bounds = [
            f"{sign} {_number(bound)}"
            for sign, bound in ((">=", info.ge), (">", info.gt), ("<=", info.le), ("<", info.lt))
            if bound is not None
        ]
        return ", ".join(bounds)
    if isinstance(info, msgspec.inspect.StrType):
        parts = []
        if info.max_length is not None:
            parts.append(f"{info.min_length or 0} to {info.max_length} characters")
        if info.pattern is not None:
            parts.append(f"matches `{info.pattern}`")
        return ", ".join(parts)
    return ""


def row(v: Variable) -> tuple[str, str, str]:
    return (v.section or "(top)", shown_default(v.default), shown_constraint(v.kind))


def documented() -> dict[str, tuple[str, str, str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            name, *cells = (c.strip() for c in match.groups())
            assert name not in rows, f"{name} documented twice"
            rows[name] = (cells[0], cells[1], cells[2])
    return rows


def test_every_variable_is_documented_with_its_section_default_and_constraint() -> None:
    model = {v.name: row(v) for v in variables()}
    doc = documented()
    assert sorted(set(model) - set(doc)) == [], "variables missing from docs/configuration.md"
    assert sorted(set(doc) - set(model)) == [], "documented variables Settings does not read"
    wrong = {n: (doc[n], model[n]) for n in model if doc[n] != model[n]}
    assert wrong == {}, "(documented, model) differ"
