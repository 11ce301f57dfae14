"""How a login attempt ends, in the transaction that settles it: a session opened, a
second-factor challenge issued, or a failure counted — each audited.

Shared by the password step (``Auth.login``) and the second-factor step
(``Auth.login_mfa``), so both count against the same throttle keys and name things in
the audit trail the same way.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

from actors.domain.login_sessions import session_digest
from actors.domain.mfa import MfaMethod, new_challenge
from actors.domain.principal import AuditActor, RequestMeta
from actors.domain.throttle import account_key
from actors.domain.tokens import AccessTokens, new_refresh_token
from actors.domain.users import User
from actors.ports.uow import Tx
from actors.usecases.login_throttle import AttemptKeys, LoginThrottle

FailureReason = Literal[
    "unknown_email",
    "bad_password",
    "account_disabled",
    "tenant_suspended",
    "password_expired",
    "bad_mfa_code",
    # The password was right, but the tenant signs in with SSO only (docs/operations.md).
    "password_login_disabled",
]


class TokenPair(msgspec.Struct, frozen=True):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name


class LoginChallenge(msgspec.Struct, frozen=True):
    """The password was right and the account has a second factor: send ``challenge``
    with a code to ``POST /api/v1/auth/login/mfa`` within ``expires_in`` seconds."""

    challenge: str
    expires_in: int
    methods: list[MfaMethod]
    mfa_required: bool = True


class LoginAnswer(msgspec.Struct, frozen=True, omit_defaults=True):
    """What ``POST /api/v1/auth/login`` answers, as one schema for ``/openapi.json``:
    either a :class:`TokenPair` or, when the account has a second factor, a
    :class:`LoginChallenge` (``mfa_required: true``). Never built: documentation only."""

    expires_in: int
    access_token: str | None = None
    refresh_token: str | None = None
    token_type: Literal["Bearer"] | None = None
    mfa_required: bool | None = None
    challenge: str | None = None
    methods: list[MfaMethod] | None = None


class LoginOutcomes:
    def __init__(
        self,
        tokens: AccessTokens,
        throttle: LoginThrottle,
        *,
        refresh_ttl_s: int,
        session_max_age_s: int,
        challenge_ttl_s: int,
    ) -> None:
        self._tokens = tokens
        self._throttle = throttle
        self._refresh_ttl_s = refresh_ttl_s
        self._session_max_age_s = session_max_age_s
        self._challenge_ttl_s = challenge_ttl_s

    async def open_session(
        self,
        tx: Tx,
        user: User,
        keys: AttemptKeys,
        meta: RequestMeta,
        *,
        mfa: MfaMethod | None = None,
        rehashed: bool = False,
    ) -> TokenPair:
        """Open a session (a refresh family), clear the account's failures, audit
        ``auth.login``; the pair to answer with."""
        tid = user.tenant_id
        refresh, digest = new_refresh_token()
        session_id = await tx.sessions.open(
            tenant_id=tid,
            user_id=user.id,
            token_hash=digest,
            token_ttl_s=self._refresh_ttl_s,
            family_ttl_s=self._session_max_age_s,
            source_ip=meta.source_ip,
        )
        await tx.sessions.purge_expired(tid, user.id)
        await self._throttle.succeeded(tx, keys)
        details: dict[str, object] = {"session": session_digest(session_id), "rehashed": rehashed}
        if mfa is not None:
            details["mfa"] = mfa
        await tx.audit.append(
            tid,
            user_actor(user.id, user.email, meta),
            "auth.login",
            target=user.ref,
            details=details,
        )
        access = self._tokens.issue(
            user_id=user.id, tenant_id=tid, session_id=session_id, roles=user.roles
        )
        return TokenPair(
            access_token=access.token, refresh_token=refresh, expires_in=access.expires_in
        )

    async def challenge(self, tx: Tx, user: User, keys: AttemptKeys) -> LoginChallenge:
        """Issue a second-factor challenge. The attempt's slots are given back but the
        account's failures are *not* forgotten: only a finished login clears them, so a
        known password does not buy fresh code guesses."""
        token, digest = new_challenge()
        await tx.mfa.open_challenge(user.tenant_id, user.id, digest, self._challenge_ttl_s)
        await self._throttle.release(tx, keys)
        return LoginChallenge(
            challenge=token,
            expires_in=self._challenge_ttl_s,
            methods=["totp", "recovery_code"],
        )

    async def failed(
        self,
        tx: Tx,
        email: str,
        user_id: UUID | None,
        tenant_id: UUID | None,
        reason: FailureReason,
        keys: AttemptKeys,
        meta: RequestMeta,
    ) -> None:
        """Count a failed attempt against its keys (blocking those over budget), settle
        it, and audit it on the account's chain — or the platform's for an unknown email,
        named by its digest: the append-only chain must not keep forever what someone
        typed into the email field (often a password)."""
        failures = await self._throttle.failed(tx, keys)
        if user_id is None:
            target, claimed = account_key(email), None
        else:
            target, claimed = f"user:{user_id}", email
        await tx.audit.append(
            tenant_id if user_id is not None else None,
            AuditActor.anonymous(meta, claimed_name=claimed),
            "auth.login_failed",
            target=target,
            details={"reason": reason, "account_failures": failures},
        )


def user_actor(user_id: UUID, email: str | None, meta: RequestMeta) -> AuditActor:
    return AuditActor(
        ref=f"user:{user_id}", name=email, request_id=meta.request_id, source_ip=meta.source_ip
    )
