"""What a signed-in user does to their own account: change their password, and enrol a
second factor (TOTP) with its recovery codes.

Both start by proving the current password, checked under the login throttle (a stolen
access token must not become a way to guess the password, or to lock its owner out by
enrolling the thief's authenticator).
"""

from __future__ import annotations

import time

import msgspec

from actors.domain.mfa import (
    GivenCode,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    recovery_code_digest,
)
from actors.domain.principal import Principal
from actors.domain.users import GivenPassword, NewPassword, check_password
from actors.errors import Conflict, Forbidden, Invalid, NotFound
from actors.ports.accounts import PasswordHasher
from actors.ports.uow import UnitOfWork
from actors.usecases.auth import AuthPolicy

WRONG_PASSWORD = "the current password is not right"  # noqa: S105 - a message


class ChangePassword(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    current_password: GivenPassword
    new_password: NewPassword


class PasswordChanged(msgspec.Struct, frozen=True):
    #: The user's other sessions, ended by the change (this one goes on).
    sessions_revoked: int


class EnrolTotp(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: GivenPassword


class TotpEnrolment(msgspec.Struct, frozen=True):
    """Show ``otpauth_uri`` as a QR code (or ``secret`` for typing in), then confirm with
    a code from the app."""

    secret: str
    otpauth_uri: str


class ConfirmTotp(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: GivenCode


class RecoveryCodes(msgspec.Struct, frozen=True):
    """Shown once: each logs in once instead of a TOTP code."""

    recovery_codes: list[str]


class MfaStatus(msgspec.Struct, frozen=True):
    enabled: bool
    #: An enrolment waiting for its confirming code.
    pending: bool
    recovery_codes_left: int


class Account:
    def __init__(
        self, uow: UnitOfWork, passwords: PasswordHasher, policy: AuthPolicy, *, issuer: str
    ) -> None:
        self._uow = uow
        self._passwords = passwords
        self._throttle = policy.throttle()
        self._issuer = issuer

    async def _prove_password(self, who: Principal, password: str, action: str) -> None:
        """Check ``password`` against the caller's, throttled like a login; a failure is
        counted and audited (``auth.<action>_failed``).

        :raises Throttled: while the account or address is blocked.
        :raises Invalid: (field ``current_password``/``password``) if it is wrong.
        """
        tid = who.tenant_id
        keys = self._throttle.keys(who.email, who.meta)
        async with self._uow.anonymous() as tx:
            await self._throttle.reserve(tx, keys)
        settled = False
        try:
            async with self._uow.scoped(tid) as tx:
                state = await tx.users.password_state(tid, who.user_id)
            check = await self._passwords.verify(
                password, None if state is None else state.password_hash
            )
            if not check.ok:
                async with self._uow.scoped(tid) as tx:
                    failures = await self._throttle.failed(tx, keys)
                    await tx.audit.append(
                        tid,
                        who,
                        f"auth.{action}_failed",
                        target=f"user:{who.user_id}",
                        details={"reason": "bad_password", "account_failures": failures},
                    )
            else:
                async with self._uow.anonymous() as tx:
                    await self._throttle.release(tx, keys)
            settled = True
        finally:
            if not settled:
                async with self._uow.anonymous() as tx:
                    await self._throttle.release(tx, keys)
        if not check.ok:
            field = "current_password" if action == "password_change" else "password"
            raise Invalid(WRONG_PASSWORD, field=field)

    async def change_password(self, who: Principal, cmd: ChangePassword) -> PasswordChanged:
        """Replace the caller's password (a one-time one included) and end their other
        sessions; audited as ``auth.password_change``.

        :raises Invalid: if the current password is wrong, or the new one breaks the
            password rules (length, common passwords, the email) or equals the current.
        :raises Throttled: as a login would be.
        """
        _person(who)
        check_password(cmd.new_password, email=who.email)
        if cmd.new_password == cmd.current_password:
            raise Invalid("the new password must differ from the current one", field="new_password")
        await self._prove_password(who, cmd.current_password, "password_change")
        new_hash = await self._passwords.hash(cmd.new_password)
        tid = who.tenant_id
        async with self._uow.scoped(tid) as tx:
            if await tx.users.get(tid, who.user_id, for_update=True) is None:
                raise NotFound("no such user")
            await tx.users.set_password(tid, who.user_id, new_hash)
            revoked = await tx.sessions.revoke_user(
                tid, who.user_id, "password_change", keep=who.session_id
            )
            await tx.audit.append(
                tid,
                who,
                "auth.password_change",
                target=f"user:{who.user_id}",
                details={"sessions_revoked": revoked},
            )
        return PasswordChanged(sessions_revoked=revoked)

    async def mfa_status(self, who: Principal) -> MfaStatus:
        _person(who)
        tid = who.tenant_id
        async with self._uow.scoped(tid) as tx:
            totp = await tx.mfa.totp(tid, who.user_id)
            left = await tx.mfa.recovery_codes_left(tid, who.user_id)
        return MfaStatus(
            enabled=totp is not None and totp.confirmed,
            pending=totp is not None and not totp.confirmed,
            recovery_codes_left=left,
        )

    async def enrol_totp(self, who: Principal, cmd: EnrolTotp) -> TotpEnrolment:
        """Start (or restart) an enrolment: a new secret, not in force until confirmed.

        :raises Conflict: if a second factor is already enabled (an admin reset removes it).
        :raises Invalid: if the password is wrong.
        """
        _person(who)
        await self._prove_password(who, cmd.password, "mfa_enrol")
        secret = new_totp_secret()
        tid = who.tenant_id
        async with self._uow.scoped(tid) as tx:
            if not await tx.mfa.begin_totp(tid, who.user_id, secret):
                raise Conflict("a second factor is already enabled for this account")
            await tx.audit.append(tid, who, "auth.mfa_enrol", target=f"user:{who.user_id}")
        return TotpEnrolment(
            secret=secret,
            otpauth_uri=provisioning_uri(secret, account=who.email, issuer=self._issuer),
        )

    async def confirm_totp(self, who: Principal, cmd: ConfirmTotp) -> RecoveryCodes:
        """Put the pending enrolment in force with a current code from the app; answers
        the recovery codes, once. Audited as ``auth.mfa_enable``.

        :raises Conflict: if there is no pending enrolment.
        :raises Invalid: (field ``code``) if the code is not current.
        """
        _person(who)
        codes = new_recovery_codes()
        tid = who.tenant_id
        async with self._uow.scoped(tid) as tx:
            totp = await tx.mfa.totp(tid, who.user_id, for_update=True)
            if totp is None or totp.confirmed:
                raise Conflict("no enrolment is waiting for confirmation; start one first")
            step = matching_step(totp.secret, cmd.code, now=time.time(), after_step=totp.last_step)
            if step is None:
                raise Invalid("the code is not the app's current one", field="code")
            await tx.mfa.confirm_totp(tid, who.user_id, step)
            await tx.mfa.replace_recovery_codes(
                tid, who.user_id, [recovery_code_digest(c) for c in codes]
            )
            await tx.audit.append(
                tid,
                who,
                "auth.mfa_enable",
                target=f"user:{who.user_id}",
                details={"method": "totp", "recovery_codes": len(codes)},
            )
        return RecoveryCodes(recovery_codes=codes)


def _person(who: Principal) -> None:
    """:raises Forbidden: (403) for an integration credential: it has no password and no
    second factor (its token is its only credential)."""
    if not who.is_person:
        raise Forbidden("an integration credential has no password or second factor")
