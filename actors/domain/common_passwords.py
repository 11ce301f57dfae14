"""The shipped list of the most common passwords, and the one way to compare against it.

ASVS 5.0 V6.2.4: a new password is checked against at least the top 3,000 passwords that
meet the length policy. ``common_passwords.txt`` (package data, beside this module) holds
8,354 of them, offline: no password ever leaves the process for a look-up. Comparison is
on :func:`normalise`, so ``Password1``, ``PASSWORD1`` and the same in full-width letters
all match ``password1``.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

LIST_FILE = "common_passwords.txt"


def normalise(password: str) -> str:
    """NFKC, case-folded, runs of whitespace collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", password).casefold().split())


@cache
def common_passwords() -> frozenset[str]:
    """The list, normalised (read once per process, ~1 MiB in memory)."""
    text = resources.files(__package__).joinpath(LIST_FILE).read_text(encoding="utf-8")
    return frozenset(
        normalise(line) for line in text.splitlines() if line and not line.startswith("# ")
    )


def is_common(password: str) -> bool:
    return normalise(password) in common_passwords()
