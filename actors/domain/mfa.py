"""The second factor: TOTP codes (RFC 6238, through pyotp), recovery codes, login
challenges, and the policy that says whose accounts must have one. Pure.

- TOTP: 160-bit secrets (base32), 6 digits, 30-second steps, one step of clock drift either
  way. A code is accepted only for a step newer than the last one accepted, so a code seen
  over someone's shoulder cannot be replayed within its 90 seconds.
- Recovery codes: ``RECOVERY_CODE_COUNT`` codes of 80 random bits (16 base32 characters,
  shown as ``abcd-efgh-ijkl-mnop``), stored as SHA-256 digests, each spent once. 80 bits
  make the unsalted digest as good as a slow hash.
- Login challenge: 256 random bits, stored as SHA-256, valid ``MFA_CHALLENGE_TTL_S``, dead
  after ``CHALLENGE_MAX_FAILURES`` wrong codes (the login must start again).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
import pyotp

from actors.domain.rbac import Role

TOTP_DIGITS = 6
TOTP_PERIOD_S = 30
#: Steps either side of now that still count (clock drift of the authenticator app).
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_CHARS = 16
CHALLENGE_MAX_FAILURES = 5
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

MfaMethod = Literal["totp", "recovery_code"]
#: What a second login step accepts: a TOTP code or a recovery code (dashes, spaces and
#: case do not matter).
GivenCode = Annotated[str, msgspec.Meta(min_length=6, max_length=64)]


class TotpRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A user's TOTP enrolment as stored."""

    user_id: UUID
    tenant_id: UUID | None
    secret: str
    confirmed: bool
    last_step: int
    created_at: datetime


class ChallengeOwner(msgspec.Struct, frozen=True):
    """Whose a presented login challenge is (found by digest, before the tenant is known)."""

    challenge_id: UUID
    user_id: UUID
    tenant_id: UUID | None


class ChallengeState(msgspec.Struct, frozen=True, kw_only=True):
    """A challenge, row-locked for this transaction."""

    challenge_id: UUID
    user_id: UUID
    tenant_id: UUID | None
    expired: bool
    failures: int


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (as a QR code)."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_S, issuer=issuer)
    return totp.provisioning_uri(name=account, issuer_name=issuer)


def current_step(now: float) -> int:
    return int(now // TOTP_PERIOD_S)


def totp_code(secret: str, step: int) -> str:
    """The code of ``step`` (tests and tools; login uses :func:`matching_step`)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_S).generate_otp(step)


def matching_step(secret: str, code: str, *, now: float, after_step: int) -> int | None:
    """The time step ``code`` is valid for, within the drift window and newer than
    ``after_step``; ``None`` if there is none. Compares in constant time."""
    given = code.strip().replace(" ", "")
    if len(given) != TOTP_DIGITS or not given.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_S)
    found = None
    now_step = current_step(now)
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(totp.generate_otp(step), given):
            found = step
    return found


def looks_like_totp(code: str) -> bool:
    given = code.strip().replace(" ", "")
    return len(given) == TOTP_DIGITS and given.isdigit()


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_BASE32) for _ in range(RECOVERY_CODE_CHARS))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_CHARS, 4)))
    return codes


def recovery_code_digest(code: str) -> bytes:
    """The stored form of a recovery code, however it was typed."""
    normal = "".join(ch for ch in code.lower() if ch not in "- \t")
    return hashlib.sha256(b"recovery:" + normal.encode("utf-8", "surrogatepass")).digest()


def new_challenge() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, challenge_digest(token)


def challenge_digest(token: str) -> bytes:
    return hashlib.sha256(b"challenge:" + token.encode("utf-8", "surrogatepass")).digest()


def mfa_required(roles: Iterable[Role], *policies: Iterable[Role]) -> bool:
    """Whether an account with ``roles`` must have a second factor under any policy."""
    held = set(roles)
    return any(held.intersection(policy) for policy in policies)
