"""The README's layout table says which folder may import what; this holds the code to it.

Each row's last column names, in backticks, the project modules the folder may import
besides its own (``as `actors/node/``` takes that row's list too); stdlib and third-party
names are not checked here. ``actors/`` (top) is the modules directly in ``actors/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("actors", "edge", "store", "simulator")
FOLDER = re.compile(r"^\|\s*`([\w/]+/)`(\s*\(top\))?\s*\|")


def _table() -> dict[str, set[str]]:
    """Folder (``actors/node/``; ``actors/`` for the top) -> the modules it may import."""
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in layout.splitlines():
        found = FOLDER.match(line)
        if found is not None:
            rows[found.group(1)] = line.rstrip(" |").rsplit("|", 1)[1]
    allowed: dict[str, set[str]] = {}
    for folder, column in rows.items():
        names = set(re.findall(r"`([\w.]+)`", column))
        for inherited in re.findall(r"as `([\w/]+/)`", column):
            names |= set(re.findall(r"`([\w.]+)`", rows[inherited]))
        allowed[folder] = names
    return allowed


def _folder(path: Path) -> str:
    relative = path.relative_to(ROOT)
    if relative.parts[0] == "actors" and len(relative.parts) == 2:
        return "actors/"  # a top-level module of actors
    return (
        "/".join(relative.parts[:2]) + "/"
        if relative.parts[0] == "actors"
        else f"{relative.parts[0]}/"
    )


def _own(folder: str, name: str) -> bool:
    if folder == "actors/":
        return name == "actors" or (ROOT / "actors" / f"{name.split('.')[1]}.py").exists()
    package = folder.rstrip("/").replace("/", ".")
    return name == package or name.startswith(package + ".")


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in PROJECT]


def test_the_table_names_a_rule_for_every_folder_of_the_server() -> None:
    table = _table()
    folders = {_folder(p) for package in PROJECT for p in (ROOT / package).rglob("*.py")}
    assert folders - set(table) == set()


def test_every_module_imports_only_what_its_folder_may() -> None:
    table = _table()
    wrong = []
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*.py")):
            folder = _folder(path)
            allowed = table[folder]
            for line, name in _imports(path):
                if _own(folder, name) or any(
                    name == a or name.startswith(a + ".") for a in allowed
                ):
                    continue
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} ({folder})")
    assert wrong == []
