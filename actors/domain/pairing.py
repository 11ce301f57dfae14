"""Pairing codes: what a person reads off a new screen and types into the admin tool.

Eight characters from a 20-consonant alphabet (RFC 8628 §6.1): no vowels, so no words
form by accident, and no look-alikes (no 0/O, 1/I/L). 20^8 ≈ 2.56e10 codes, ≈ 34 bits;
with codes expiring in minutes and failed claims throttled per tenant, guessing is hopeless.
Shown as ``BCDF-GHJK``; accepted with or without the dash, in any case.
"""

from __future__ import annotations

import secrets

import msgspec

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LENGTH = 8
_ALLOWED = frozenset(ALPHABET)


def new_pairing_code() -> str:
    """A fresh code, canonical form (eight letters, no dash)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_pairing_code(raw: str) -> str | None:
    """The canonical form of what a person typed, or None if it cannot be a code.

    Strips spaces and dashes and upper-cases; anything else outside the alphabet (or a
    wrong length) is rejected here, before any database lookup.
    """
    cleaned = raw.replace("-", "").replace(" ", "").upper()
    if len(cleaned) != LENGTH or not _ALLOWED.issuperset(cleaned):
        return None
    return cleaned


def display_pairing_code(code: str) -> str:
    """``BCDFGHJK`` → ``BCDF-GHJK`` (how a screen should show it)."""
    return f"{code[:4]}-{code[4:]}"


class ClaimFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A failed claim as its tenant's count stands after it (``sql/0050``)."""

    #: Failures within the throttle window, this one included.
    failures: int
    #: Failures no audit entry has stood for yet, this one included.
    unaudited: int
    #: Whether the last ``device.claim_failed`` entry is old enough for a new one.
    audit_due: bool
