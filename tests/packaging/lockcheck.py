"""Do ``pyproject.toml`` and the lock files in ``requirements/`` agree?

``make lock`` (pip-compile with hashes) writes the locks; ``make lint`` runs this check,
offline, so a dependency added, dropped or re-pinned in ``pyproject.toml`` without
re-locking fails CI:

- each lock's direct dependencies (pip-compile's ``# via signage (pyproject.toml)``) are
  exactly the requirements ``pyproject.toml`` declares for it, and every pin satisfies
  the declared specifier;
- every pinned package carries hashes (``pip install --require-hashes`` needs them);
- a package pinned in two locks is pinned to the same version in both.

Usage: ``python -m tests.packaging.lockcheck [REPO]``; exit 1 and one line per problem.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
#: The platform the locks are for: the Docker image and the Linux machines CI runs on.
LOCK_ENVIRONMENT = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_SELF = re.compile(r"signage \(pyproject\.toml(::[a-z.-]+)?\)")


@dataclass
class Pin:
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Lock:
    """One lock file and what ``pyproject.toml`` declares for it."""

    file: str
    #: The build-system requirements instead of the project's dependencies.
    build_system: bool = False
    extras: tuple[str, ...] = ()


LOCKS = (
    Lock("requirements/runtime.txt"),
    Lock("requirements/dev.txt", extras=("dev", "tools")),
    Lock("requirements/build.txt", build_system=True),
)


def parse_lock(text: str) -> dict[str, Pin]:
    """``name -> Pin`` from a pip-compile output (hash lines and ``# via`` annotations)."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for raw in text.splitlines():
        line = raw.strip()
        match = _PIN.match(raw)
        if match:
            current = Pin(match.group(2))
            pins[canonicalize_name(match.group(1))] = current
            current.hashes += raw.count("--hash=")
        elif current is not None and line.startswith("--hash="):
            current.hashes += 1
        elif current is not None and line.startswith("#"):
            note = line.lstrip("#").strip()
            note = note.removeprefix("via").strip()
            if note:
                current.via.append(note)
        elif line and not line.startswith("#"):
            current = None
    return pins


def declared(pyproject: dict[str, object], lock: Lock) -> list[Requirement]:
    """The requirements ``pyproject.toml`` declares for ``lock`` on the lock's platform."""
    if lock.build_system:
        raw = list(pyproject["build-system"]["requires"])  # type: ignore[index]
        extras: tuple[str, ...] = ("",)
    else:
        project = pyproject["project"]
        raw = list(project["dependencies"])  # type: ignore[index]
        for extra in lock.extras:
            raw += project["optional-dependencies"][extra]  # type: ignore[index]
        extras = ("", *lock.extras)
    found = []
    for text in raw:
        req = Requirement(text)
        if req.marker is None or any(
            req.marker.evaluate({**LOCK_ENVIRONMENT, "extra": e}) for e in extras
        ):
            found.append(req)
    return found


def check(repo: Path = REPO) -> list[str]:
    """Every disagreement between ``repo``'s ``pyproject.toml`` and its locks, one line each."""
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    problems: list[str] = []
    seen: dict[str, tuple[str, str]] = {}
    for lock in LOCKS:
        path = repo / lock.file
        if not path.is_file():
            problems.append(f"{lock.file}: missing (run `make lock`)")
            continue
        pins = parse_lock(path.read_text(encoding="utf-8"))
        wanted: dict[str, Requirement] = {
            canonicalize_name(r.name): r for r in declared(pyproject, lock)
        }
        direct = {name for name, pin in pins.items() if any(_SELF.search(v) for v in pin.via)}
        for missing in sorted(wanted.keys() - pins.keys()):
            problems.append(f"{lock.file}: {missing} is in pyproject.toml but not locked")
        for stale in sorted(direct - wanted.keys()):
            problems.append(
                f"{lock.file}: {stale} is locked as a direct dependency but no "
                "longer declared in pyproject.toml"
            )
        for name, req in sorted(wanted.items()):
            pin = pins.get(name)
            if pin is None:
                continue
            if not req.specifier.contains(pin.version, prereleases=True):
                problems.append(
                    f"{lock.file}: {name}=={pin.version} does not satisfy pyproject.toml's {req}"
                )
            if name not in direct:
                problems.append(
                    f"{lock.file}: {name} is declared but the lock does not say "
                    "it comes from pyproject.toml (re-lock)"
                )
        for name, pin in sorted(pins.items()):
            if pin.hashes == 0:
                problems.append(f"{lock.file}: {name}=={pin.version} has no --hash")
            other = seen.setdefault(name, (pin.version, lock.file))
            if other[0] != pin.version:
                problems.append(
                    f"{lock.file}: {name}=={pin.version} but {other[1]} pins {other[0]}"
                )
    return problems


def main(argv: list[str]) -> int:
    repo = Path(argv[1]) if len(argv) > 1 else REPO
    problems = check(repo)
    for line in problems:
        print(f"lock check: {line}", file=sys.stderr)
    if problems:
        print(
            "lock check: pyproject.toml and requirements/ disagree: run `make lock`",
            file=sys.stderr,
        )
        return 1
    print(f"lock check: {len(LOCKS)} lock files agree with pyproject.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
