"""Admin authentication: login (with an optional second step), refresh, logout, and the
per-request token check.

Login and refresh run before the caller's tenant is known: they find their one row in an
anonymous-scope transaction (the store's narrow lookups), then do everything else in the
account's own scope. Every login attempt is audited (success and failure), as are logout
and the reuse of a spent refresh token, which revokes the whole family.

Every secret a caller could guess (a password, a second-factor code) is checked between a
throttle reservation and its settlement (``actors/usecases/login_throttle.py``).

Timing: an unknown email costs the same argon2 work as a wrong password, and every
refusal has the same body, so responses do not tell which emails have accounts.
"""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.login_sessions import LoginCandidate, session_digest
from actors.domain.mfa import (
    CHALLENGE_MAX_FAILURES,
    GivenCode,
    MfaMethod,
    challenge_digest,
    looks_like_totp,
    matching_step,
    recovery_code_digest,
)
from actors.domain.principal import AuditActor, Principal, PrincipalKind, RequestMeta, Restriction
from actors.domain.rbac import Role
from actors.domain.throttle import ThrottlePolicy
from actors.domain.tokens import AccessTokens, new_refresh_token, refresh_token_digest
from actors.domain.users import Email, GivenPassword, User, normalize_email
from actors.errors import Forbidden, Unauthenticated
from actors.ports.accounts import PasswordHasher
from actors.ports.uow import Tx, UnitOfWork
from actors.settings import Settings
from actors.usecases.login_outcomes import (
    FailureReason,
    LoginChallenge,
    LoginOutcomes,
    TokenPair,
    user_actor,
)
from actors.usecases.login_throttle import AttemptKeys, LoginThrottle

__all__ = ["Auth", "AuthPolicy", "Login", "LoginChallenge", "LoginMfa", "Me", "TokenPair"]

RefreshTokenText = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
ChallengeText = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
#: The one answer to every failed login, whatever the reason.
BAD_CREDENTIALS = "invalid email or password"
BAD_REFRESH = "the refresh token is not valid"
BAD_SECOND_FACTOR = "the challenge or the code is not valid"
#: Told only to someone who knew the password (and counted as a failed attempt, so the
#: answer is no password oracle beyond the throttle's budget).
SSO_ONLY = "password login is disabled for your organisation: sign in with single sign-on"


class Login(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    password: GivenPassword


class LoginMfa(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The second login step: the challenge the first answered, and a TOTP code (6
    digits) or one of the account's recovery codes."""

    challenge: ChallengeText
    code: GivenCode


class Refresh(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: RefreshTokenText


class Logout(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: RefreshTokenText


class Me(msgspec.Struct, frozen=True):
    user_id: UUID
    email: str
    tenant_id: UUID | None
    roles: list[Role]
    #: What the session must do before anything else (empty: nothing).
    required_actions: list[Restriction] = msgspec.field(default_factory=list)
    #: ``integration`` for an integration credential (``email`` is then its name).
    kind: PrincipalKind = "user"


class AuthPolicy(msgspec.Struct, frozen=True, kw_only=True):
    refresh_ttl_s: int
    session_max_age_s: int
    refresh_reuse_grace_s: int
    challenge_ttl_s: int
    #: Roles that must have a second factor everywhere (the platform policy).
    mfa_roles: tuple[Role, ...]
    per_account: ThrottlePolicy
    per_address: ThrottlePolicy

    @classmethod
    def from_settings(cls, s: Settings) -> AuthPolicy:
        def throttle(max_failures: int) -> ThrottlePolicy:
            return ThrottlePolicy(
                max_failures=max_failures,
                window_s=s.login.window_s,
                base_block_s=s.login.block_base_s,
                max_block_s=s.login.block_max_s,
            )

        return cls(
            refresh_ttl_s=s.auth.refresh_token_ttl_s,
            session_max_age_s=s.auth.session_max_age_s,
            refresh_reuse_grace_s=s.auth.refresh_reuse_grace_s,
            challenge_ttl_s=s.mfa.challenge_ttl_s,
            mfa_roles=tuple(Role(r) for r in s.mfa.roles),
            per_account=throttle(s.login.account_max_failures),
            per_address=throttle(s.login.address_max_failures),
        )

    def throttle(self) -> LoginThrottle:
        return LoginThrottle(per_account=self.per_account, per_address=self.per_address)


class Auth:
    def __init__(
        self,
        uow: UnitOfWork,
        passwords: PasswordHasher,
        tokens: AccessTokens,
        policy: AuthPolicy,
    ) -> None:
        self._uow = uow
        self._passwords = passwords
        self._tokens = tokens
        self._policy = policy
        self._throttle = policy.throttle()
        self._outcomes = LoginOutcomes(
            tokens,
            self._throttle,
            refresh_ttl_s=policy.refresh_ttl_s,
            session_max_age_s=policy.session_max_age_s,
            challenge_ttl_s=policy.challenge_ttl_s,
        )

    async def login(self, cmd: Login, meta: RequestMeta) -> TokenPair | LoginChallenge:
        """A token pair, or a :class:`LoginChallenge` if the account has a second factor.

        :raises Throttled: while the account or the source address is blocked, or has
            as many attempts in flight as it has failures left.
        :raises Unauthenticated: for any failure (one message for all of them).
        """
        email = normalize_email(cmd.email)
        keys = self._throttle.keys(email, meta)
        async with self._uow.anonymous() as tx:
            await self._throttle.reserve(tx, keys)
            candidate = await tx.users.login_candidate(email)
        settled = False
        try:
            stored = None if candidate is None else candidate.password_hash
            check = await self._passwords.verify(cmd.password, stored)
            answer: TokenPair | LoginChallenge | FailureReason | None = None
            if candidate is None or not check.ok:
                reason: FailureReason = "unknown_email" if candidate is None else "bad_password"
                async with self._uow.scoped(
                    None if candidate is None else candidate.tenant_id
                ) as tx:
                    await self._outcomes.failed(
                        tx,
                        email,
                        None if candidate is None else candidate.user_id,
                        None if candidate is None else candidate.tenant_id,
                        reason,
                        keys,
                        meta,
                    )
            else:
                async with self._uow.scoped(candidate.tenant_id) as tx:
                    answer = await self._password_passed(
                        tx, candidate, check.new_hash, email, keys, meta
                    )
            settled = True
        finally:
            if not settled:
                async with self._uow.anonymous() as tx:
                    await self._throttle.release(tx, keys)
        if answer == "password_login_disabled":
            raise Forbidden(SSO_ONLY)
        if answer is None or isinstance(answer, str):
            raise Unauthenticated(BAD_CREDENTIALS)
        return answer

    async def _password_passed(
        self,
        tx: Tx,
        candidate: LoginCandidate,
        new_hash: str | None,
        email: str,
        keys: AttemptKeys,
        meta: RequestMeta,
    ) -> TokenPair | LoginChallenge | FailureReason | None:
        """The password was right: open a session or issue a challenge, unless the account
        changed while the hash was checked or its password is an expired one-time one
        (then count a failure and answer ``None``), or its tenant allows SSO only (count
        a failure and answer ``"password_login_disabled"``)."""
        tid = candidate.tenant_id
        # Re-read under lock: the account may have changed while the hash was checked.
        user = await tx.users.get(tid, candidate.user_id, for_update=True)
        refusal = await self._refusal(tx, user)
        if refusal is None and user is not None:
            state = await tx.users.password_state(tid, user.id)
            if state is not None and state.expired:
                refusal = "password_expired"
        if refusal is None and tid is not None and not await tx.sso.password_login_allowed(tid):
            refusal = "password_login_disabled"
        if user is None or refusal is not None:
            await self._outcomes.failed(
                tx, email, candidate.user_id, tid, refusal or "unknown_email", keys, meta
            )
            return "password_login_disabled" if refusal == "password_login_disabled" else None
        if new_hash is not None:
            await tx.users.set_password_hash(tid, user.id, new_hash)
        totp = await tx.mfa.totp(tid, user.id)
        if totp is not None and totp.confirmed:
            return await self._outcomes.challenge(tx, user, keys)
        return await self._outcomes.open_session(
            tx, user, keys, meta, rehashed=new_hash is not None
        )

    async def login_mfa(self, cmd: LoginMfa, meta: RequestMeta) -> TokenPair:
        """Finish a login with the code for its challenge. A wrong code counts as a failed
        login of the account (same budget as passwords); a challenge dies after
        ``CHALLENGE_MAX_FAILURES`` wrong codes or when it expires.

        :raises Throttled: as for :meth:`login`.
        :raises Unauthenticated: for an unknown, expired or dead challenge, or a wrong or
            replayed code.
        """
        async with self._uow.anonymous() as tx:
            owner = await tx.mfa.find_challenge(challenge_digest(cmd.challenge))
        if owner is None:
            raise Unauthenticated(BAD_SECOND_FACTOR)
        tid = owner.tenant_id
        async with self._uow.scoped(tid) as tx:
            user = await tx.users.get(tid, owner.user_id)
        if user is None:
            raise Unauthenticated(BAD_SECOND_FACTOR)
        keys = self._throttle.keys(user.email, meta)
        async with self._uow.anonymous() as tx:
            await self._throttle.reserve(tx, keys)
        settled = False
        try:
            async with self._uow.scoped(tid) as tx:
                pair = await self._second_step(tx, owner.challenge_id, user, cmd.code, keys, meta)
            settled = True
        finally:
            if not settled:
                async with self._uow.anonymous() as tx:
                    await self._throttle.release(tx, keys)
        if pair is None:
            raise Unauthenticated(BAD_SECOND_FACTOR)
        return pair

    async def _second_step(
        self,
        tx: Tx,
        challenge_id: UUID,
        user: User,
        code: str,
        keys: AttemptKeys,
        meta: RequestMeta,
    ) -> TokenPair | None:
        tid = user.tenant_id
        challenge = await tx.mfa.lock_challenge(tid, challenge_id)
        if challenge is None or challenge.expired:
            if challenge is not None:
                await tx.mfa.close_challenge(tid, challenge_id)
            await self._throttle.release(tx, keys)
            return None
        locked = await tx.users.get(tid, user.id, for_update=True)
        refusal = await self._refusal(tx, locked)
        if locked is None or refusal is not None:
            await tx.mfa.close_challenge(tid, challenge_id)
            await self._outcomes.failed(
                tx, user.email, user.id, tid, refusal or "unknown_email", keys, meta
            )
            return None
        method = await self._check_code(tx, locked, code)
        if method is None:
            if await tx.mfa.challenge_failed(tid, challenge_id) >= CHALLENGE_MAX_FAILURES:
                await tx.mfa.close_challenge(tid, challenge_id)
            await self._outcomes.failed(tx, user.email, user.id, tid, "bad_mfa_code", keys, meta)
            return None
        await tx.mfa.close_challenge(tid, challenge_id)
        return await self._outcomes.open_session(tx, locked, keys, meta, mfa=method)

    async def _check_code(self, tx: Tx, user: User, code: str) -> MfaMethod | None:
        """Which factor ``code`` proves (spending it), or ``None``."""
        tid = user.tenant_id
        totp = await tx.mfa.totp(tid, user.id, for_update=True)
        if totp is None or not totp.confirmed:
            return None
        if looks_like_totp(code):
            step = matching_step(totp.secret, code, now=time.time(), after_step=totp.last_step)
            if step is not None and await tx.mfa.accept_step(tid, user.id, step):
                return "totp"
            return None
        if await tx.mfa.spend_recovery_code(tid, user.id, recovery_code_digest(code)):
            return "recovery_code"
        return None

    async def _refusal(self, tx: Tx, user: User | None) -> FailureReason | None:
        if user is None:
            return "unknown_email"
        if user.disabled:
            return "account_disabled"
        if user.tenant_id is not None:
            tenant = await tx.tenants.get(user.tenant_id)
            if tenant is not None and not tenant.active:
                return "tenant_suspended"
        return None

    async def refresh(self, cmd: Refresh, meta: RequestMeta) -> TokenPair:
        """Spend a refresh token for a new pair. Presenting a token that was already spent
        revokes its whole family (the audit trail records it) and fails — unless it was
        spent less than ``refresh_reuse_grace_s`` ago: two tabs refreshing at the same
        moment both get a pair, and the session goes on.

        :raises Unauthenticated: if the token is unknown, spent, expired or revoked, or its
            account can no longer log in.
        """
        digest = refresh_token_digest(cmd.refresh_token)
        async with self._uow.anonymous() as tx:
            owner = await tx.sessions.find_token(digest)
        if owner is None:
            raise Unauthenticated(BAD_REFRESH)
        tid = owner.tenant_id
        pair: TokenPair | None = None
        async with self._uow.scoped(tid) as tx:
            state = await tx.sessions.lock_token(
                tid, owner.token_id, grace_s=self._policy.refresh_reuse_grace_s
            )
            if state is None or not state.family_live:
                pass
            elif state.spent and not state.spent_within_grace:
                # Someone holds a copy of an old token: end the session for everyone.
                await tx.sessions.revoke_family(tid, state.family_id, "reuse")
                await tx.audit.append(
                    tid,
                    AuditActor.anonymous(meta),
                    "auth.refresh_reuse",
                    target=f"session:{session_digest(state.family_id)}",
                    details={"user": f"user:{state.user_id}", "family_revoked": True},
                )
            elif not state.expired and state.account_active:
                user = await tx.users.get(tid, state.user_id)
                if user is not None:
                    refresh, new_digest = new_refresh_token()
                    if state.spent:
                        # Spent a moment ago: another tab of the same browser refreshed
                        # at the same time. It gets a successor of its own.
                        await tx.sessions.issue_sibling(
                            tid,
                            family_id=state.family_id,
                            new_hash=new_digest,
                            ttl_s=self._policy.refresh_ttl_s,
                        )
                    else:
                        await tx.sessions.rotate(
                            tid,
                            token_id=state.token_id,
                            family_id=state.family_id,
                            new_hash=new_digest,
                            ttl_s=self._policy.refresh_ttl_s,
                        )
                    access = self._tokens.issue(
                        user_id=user.id, tenant_id=tid, session_id=state.family_id, roles=user.roles
                    )
                    pair = TokenPair(
                        access_token=access.token,
                        refresh_token=refresh,
                        expires_in=access.expires_in,
                    )
        if pair is None:
            raise Unauthenticated(BAD_REFRESH)
        return pair

    async def logout(self, cmd: Logout, meta: RequestMeta) -> None:
        """End the session the refresh token belongs to (its access tokens too).
        Unknown or already-ended sessions are not an error: logout is idempotent."""
        digest = refresh_token_digest(cmd.refresh_token)
        async with self._uow.anonymous() as tx:
            owner = await tx.sessions.find_token(digest)
        if owner is None:
            return
        tid = owner.tenant_id
        async with self._uow.scoped(tid) as tx:
            if await tx.sessions.revoke_family(tid, owner.family_id, "logout"):
                user = await tx.users.get(tid, owner.user_id)
                await tx.audit.append(
                    tid,
                    user_actor(owner.user_id, None if user is None else user.email, meta),
                    "auth.logout",
                    target=f"session:{session_digest(owner.family_id)}",
                )

    async def authenticate(self, bearer: str, meta: RequestMeta) -> Principal:
        """The principal an access token stands for, checked against the database: the
        session must be live, the account enabled and its tenant active. One indexed
        query per request buys immediate revocation on every node. The principal carries
        a :data:`Restriction` while the session must change its password or enrol a
        second factor first (the edge enforces it).

        :raises Unauthenticated: for an invalid or expired token or an ended session.
        """
        claims = self._tokens.verify(bearer)
        async with self._uow.scoped(claims.tid) as tx:
            state = await tx.sessions.state(
                claims.tid, claims.sub, claims.sid, mfa_roles=self._policy.mfa_roles
            )
        if state is None or not state.live:
            raise Unauthenticated("the session has ended; log in again")
        restriction: Restriction | None = None
        if state.password_change_required:
            restriction = "change_password"
        elif state.mfa_enrolment_required:
            restriction = "enrol_mfa"
        return Principal(
            user_id=claims.sub,
            tenant_id=claims.tid,
            email=state.email,
            roles=frozenset(state.roles),
            session_id=claims.sid,
            request_id=meta.request_id,
            source_ip=meta.source_ip,
            restriction=restriction,
        )

    def me(self, who: Principal) -> Me:
        return Me(
            user_id=who.user_id,
            email=who.email,
            tenant_id=who.tenant_id,
            roles=sorted(who.roles),
            required_actions=[] if who.restriction is None else [who.restriction],
            kind=who.kind,
        )
