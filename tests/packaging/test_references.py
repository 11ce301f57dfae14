"""What the code and the docs point at exists: a module moved or a class renamed leaves no
reference to its old place behind (docstrings' Sphinx roles in the code, the tests and the
benchmarks, backticked dotted names in the docs, file paths in the code, the player's
scripts and the docs).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("actors", "edge", "store", "simulator", "tests", "bench")
SOURCES = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
SCRIPTS = sorted((ROOT / "edge" / "web").rglob("*.js"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "RESULTS.md"]

_DOTTED = r"(?:actors|edge|store|simulator)(?:\.[A-Za-z_]\w*)+"
#: ``:class:`~actors.node.outbox.Outbox``` and the like, in docstrings and comments.
ROLE = re.compile(rf":(?:mod|class|meth|func|data|attr|exc):`~?({_DOTTED})`")
#: ```actors.ports.relay.Relay``` in the docs (a dotted name in backticks, nothing after
#: it; not a file name such as ``actors.md``).
BACKTICKED = re.compile(rf"`(?!\w+\.(?:md|py)`)({_DOTTED})`")
#: A file of the tree named by its path (``actors/node/outbox.py``).
PATH = re.compile(
    r"\b((?:actors|edge|store|simulator|tests|bench|sql|deploy)/[\w/.-]*\w\.(?:py|js|md|sql))\b"
)


def _texts(files: list[Path]) -> Iterator[tuple[str, str]]:
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            yield f"{path.relative_to(ROOT)}:{number}", line


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or something in one (an attribute a class sets
    on its instances counts: it is assigned on ``self`` or annotated in its source)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            if hasattr(found, name):
                found = getattr(found, name)
            elif inspect.isclass(found) and not isinstance(found, ModuleType):
                source = inspect.getsource(found)
                return re.search(rf"(?:self\.{name}\b|^\s+{name}\s*:)", source, re.M) is not None
            else:
                return False
        return True
    return False


def _exists(path: str) -> bool:
    """The file, or for a pattern such as ``sql/NNNN_name.sql`` at least one of its kind."""
    return (ROOT / path).exists() or any(
        ROOT.glob(path.replace("NNNN_name", "[0-9][0-9][0-9][0-9]_*"))
    )


def test_every_sphinx_reference_in_the_code_names_something_that_exists() -> None:
    stale = [
        f"{where}: {ref}"
        for where, line in _texts(SOURCES)
        for ref in ROLE.findall(line)
        if not _resolves(ref)
    ]
    assert stale == []


def test_every_dotted_name_in_the_docs_names_something_that_exists() -> None:
    stale = [
        f"{where}: {ref}"
        for where, line in _texts(DOCS)
        for ref in BACKTICKED.findall(line)
        if not _resolves(ref)
    ]
    assert stale == []


def test_every_file_path_in_the_code_and_the_docs_exists() -> None:
    missing = [
        f"{where}: {path}"
        for where, line in _texts([*SOURCES, *SCRIPTS, *DOCS])
        for path in PATH.findall(line)
        if not _exists(path)
    ]
    assert missing == []
