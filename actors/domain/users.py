"""Admin users: the record, and the rules for emails, passwords and role sets."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.common_passwords import is_common, normalise
from actors.domain.rbac import PLATFORM_ROLES, TENANT_ROLES, Role
from actors.errors import Invalid

MAX_EMAIL_LENGTH = 254
#: OWASP / NIST SP 800-63B: at least 8 characters, long passphrases welcome; never truncated.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

#: One ``@``, no whitespace or control characters. Deliberately loose: deliverability is
#: the mail system's business, uniqueness after :func:`normalize_email` is ours.
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=MAX_EMAIL_LENGTH,
        pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$",
    ),
]
NewPassword = Annotated[
    str, msgspec.Meta(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
]
#: What a login accepts: any length up to the maximum (short ones simply never match).
GivenPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
RoleList = Annotated[list[Role], msgspec.Meta(min_length=1, max_length=len(Role))]


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    roles: tuple[Role, ...]
    #: ``None`` for platform users.
    tenant_id: UUID | None
    disabled: bool
    created_at: datetime

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"user:{self.id}"


class PasswordState(msgspec.Struct, frozen=True, kw_only=True):
    """A user's stored password, as a password change or a login needs it."""

    password_hash: str
    #: A one-time password set by an admin reset: the user must change it.
    must_change: bool
    #: A one-time password left unused past its lifetime: it no longer logs in.
    expired: bool


def normalize_email(raw: str) -> str:
    """The one spelling of an address under which it is stored, unique and looked up.

    NFC-normalised, surrounding space removed, lower-cased (whole address: no two
    accounts may differ only by case).

    :raises Invalid: (field ``email``) if the result is not a plausible address.
    """
    email = unicodedata.normalize("NFC", raw).strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or len(email) > MAX_EMAIL_LENGTH
        or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in email)
    ):
        raise Invalid("not a valid email address", field="email")
    return email


def check_password(password: str, *, email: str | None = None) -> None:
    """The rules every new password meets (creation, change, reset by an operator).

    :raises Invalid: (field ``password``) unless its length is within policy; if it is
        one of the shipped most common passwords (compared normalised); or if it is the
        account's own email or the part before its ``@``.
    """
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"passwords have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field="password",
        )
    if is_common(password):
        raise Invalid(
            "this password is among the most common ones and easily guessed; choose another",
            field="password",
        )
    if email is not None:
        given = normalise(password)
        if given in (normalise(email), normalise(email.partition("@")[0])):
            raise Invalid("a password must not be the account's email", field="password")


def role_set(tenant_id: UUID | None, roles: Iterable[Role]) -> tuple[Role, ...]:
    """``roles`` de-duplicated in a stable order, checked against the user's scope.

    :raises Invalid: (field ``roles``) if empty, or a platform role is given to a tenant
        user, or a tenant role to a platform user.
    """
    chosen = tuple(sorted(set(roles)))
    if not chosen:
        raise Invalid("at least one role is required", field="roles")
    allowed = TENANT_ROLES if tenant_id is not None else PLATFORM_ROLES
    wrong = [r.value for r in chosen if r not in allowed]
    if wrong:
        kind = "tenant" if tenant_id is not None else "platform"
        raise Invalid(f"not a {kind} role: {', '.join(wrong)}", field="roles")
    return chosen
