"""Admin authentication: login, refresh, logout, and the per-request token check.

Login and refresh run before the caller's tenant is known: they find their one row in an
anonymous-scope transaction (the store's narrow lookups), then do everything else in the
account's own scope. Every login attempt is audited (success and failure), as are logout
and the reuse of a spent refresh token, which revokes the whole family.

Timing: an unknown email costs the same argon2 work as a wrong password, and every
refusal has the same body, so responses do not tell which emails have accounts.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec

from actors.domain.principal import Actor, Principal, RequestMeta
from actors.domain.rbac import Role
from actors.domain.sessions import LoginCandidate, session_digest
from actors.domain.throttle import ThrottlePolicy, account_key
from actors.domain.tokens import (
    AccessTokens,
    new_refresh_token,
    refresh_token_digest,
)
from actors.domain.users import Email, GivenPassword, normalize_email
from actors.errors import Unauthenticated
from actors.ports import PasswordHasher, Tx, UnitOfWork
from actors.settings import Settings
from actors.usecases.login_throttle import AttemptKeys, LoginThrottle

RefreshTokenText = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
#: The one answer to every failed login, whatever the reason.
BAD_CREDENTIALS = "invalid email or password"
BAD_REFRESH = "the refresh token is not valid"

FailureReason = Literal["unknown_email", "bad_password", "account_disabled", "tenant_suspended"]


class Login(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    password: GivenPassword


class Refresh(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: RefreshTokenText


class Logout(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: RefreshTokenText


class TokenPair(msgspec.Struct, frozen=True):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name


class Me(msgspec.Struct, frozen=True):
    user_id: UUID
    email: str
    tenant_id: UUID | None
    roles: list[Role]


class AuthPolicy(msgspec.Struct, frozen=True, kw_only=True):
    refresh_ttl_s: int
    session_max_age_s: int
    refresh_reuse_grace_s: int
    per_account: ThrottlePolicy
    per_address: ThrottlePolicy

    @classmethod
    def from_settings(cls, s: Settings) -> AuthPolicy:
        def throttle(max_failures: int) -> ThrottlePolicy:
            return ThrottlePolicy(
                max_failures=max_failures,
                window_s=s.login_window_s,
                base_block_s=s.login_block_base_s,
                max_block_s=s.login_block_max_s,
            )

        return cls(
            refresh_ttl_s=s.refresh_token_ttl_s,
            session_max_age_s=s.session_max_age_s,
            refresh_reuse_grace_s=s.refresh_reuse_grace_s,
            per_account=throttle(s.login_account_max_failures),
            per_address=throttle(s.login_address_max_failures),
        )


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
        self._throttle = LoginThrottle(
            per_account=policy.per_account, per_address=policy.per_address
        )

    async def login(self, cmd: Login, meta: RequestMeta) -> TokenPair:
        """:raises Throttled: while the account or the source address is blocked, or has
            as many attempts in flight as it has failures left.
        :raises Unauthenticated: for any failure (one message for all of them)."""
        email = normalize_email(cmd.email)
        keys = self._throttle.keys(email, meta)
        async with self._uow.anonymous() as tx:
            await self._throttle.reserve(tx, keys)
            candidate = await tx.users.login_candidate(email)
        settled = False
        try:
            stored = None if candidate is None else candidate.password_hash
            check = await self._passwords.verify(cmd.password, stored)
            if candidate is None or not check.ok:
                reason: FailureReason = "unknown_email" if candidate is None else "bad_password"
                tenant_id = None if candidate is None else candidate.tenant_id
                async with self._uow.scoped(tenant_id) as tx:
                    await self._failed(tx, email, candidate, reason, keys, meta)
                settled = True
                raise Unauthenticated(BAD_CREDENTIALS)
            pair = await self._open_session(candidate, check.new_hash, email, keys, meta)
            settled = True
        finally:
            if not settled:
                async with self._uow.anonymous() as tx:
                    await self._throttle.release(tx, keys)
        if pair is None:
            raise Unauthenticated(BAD_CREDENTIALS)
        return pair

    async def _open_session(
        self,
        candidate: LoginCandidate,
        new_hash: str | None,
        email: str,
        keys: AttemptKeys,
        meta: RequestMeta,
    ) -> TokenPair | None:
        """The password was right: open the session, unless the account changed while
        the hash was checked (then count a failure and answer ``None``). Settles the
        attempt in the same transaction either way."""
        tid = candidate.tenant_id
        async with self._uow.scoped(tid) as tx:
            # Re-read under lock: the account may have changed while the hash was checked.
            user = await tx.users.get(tid, candidate.user_id, for_update=True)
            tenant = None if tid is None else await tx.tenants.get(tid)
            refusal: FailureReason | None = None
            if user is None:
                refusal = "unknown_email"
            elif user.disabled:
                refusal = "account_disabled"
            elif tenant is not None and not tenant.active:
                refusal = "tenant_suspended"
            if user is None or refusal is not None:
                await self._failed(tx, email, candidate, refusal or "unknown_email", keys, meta)
                return None
            if new_hash is not None:
                await tx.users.set_password_hash(tid, user.id, new_hash)
            refresh, digest = new_refresh_token()
            session_id = await tx.sessions.open(
                tenant_id=tid,
                user_id=user.id,
                token_hash=digest,
                token_ttl_s=self._policy.refresh_ttl_s,
                family_ttl_s=self._policy.session_max_age_s,
                source_ip=meta.source_ip,
            )
            await tx.sessions.purge_expired(tid, user.id)
            await self._throttle.succeeded(tx, keys)
            await tx.audit.append(
                tid,
                _user_actor(user.id, user.email, meta),
                "auth.login",
                target=user.ref,
                details={
                    "session": session_digest(session_id),
                    "rehashed": new_hash is not None,
                },
            )
            return self._pair(user.id, tid, session_id, user.roles, refresh)

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
                    Actor.anonymous(meta),
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
                    pair = self._pair(user.id, tid, state.family_id, user.roles, refresh)
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
                    _user_actor(owner.user_id, None if user is None else user.email, meta),
                    "auth.logout",
                    target=f"session:{session_digest(owner.family_id)}",
                )

    async def authenticate(self, bearer: str, meta: RequestMeta) -> Principal:
        """The principal an access token stands for, checked against the database: the
        session must be live, the account enabled and its tenant active. One indexed
        query per request buys immediate revocation on every node.

        :raises Unauthenticated: for an invalid or expired token or an ended session.
        """
        claims = self._tokens.verify(bearer)
        async with self._uow.scoped(claims.tid) as tx:
            state = await tx.sessions.state(claims.tid, claims.sub, claims.sid)
        if state is None or not state.live:
            raise Unauthenticated("the session has ended; log in again")
        return Principal(
            user_id=claims.sub,
            tenant_id=claims.tid,
            email=state.email,
            roles=frozenset(state.roles),
            session_id=claims.sid,
            request_id=meta.request_id,
            source_ip=meta.source_ip,
        )

    def _pair(
        self,
        user_id: UUID,
        tenant_id: UUID | None,
        session_id: UUID,
        roles: tuple[Role, ...],
        refresh: str,
    ) -> TokenPair:
        access = self._tokens.issue(
            user_id=user_id, tenant_id=tenant_id, session_id=session_id, roles=roles
        )
        return TokenPair(
            access_token=access.token, refresh_token=refresh, expires_in=access.expires_in
        )

    def me(self, who: Principal) -> Me:
        return Me(
            user_id=who.user_id,
            email=who.email,
            tenant_id=who.tenant_id,
            roles=sorted(who.roles),
        )

    async def _failed(
        self,
        tx: Tx,
        email: str,
        candidate: LoginCandidate | None,
        reason: FailureReason,
        keys: AttemptKeys,
        meta: RequestMeta,
    ) -> None:
        """Count a failed login against its keys (blocking those over budget), settle the
        attempt, and audit it on the account's chain — or the platform's for an unknown
        email, named by its digest: the append-only chain must not keep forever what
        someone typed into the email field (often a password)."""
        failures = await self._throttle.failed(tx, keys)
        if candidate is None:
            target, claimed = account_key(email), None
        else:
            target, claimed = f"user:{candidate.user_id}", email
        await tx.audit.append(
            None if candidate is None else candidate.tenant_id,
            Actor.anonymous(meta, claimed_name=claimed),
            "auth.login_failed",
            target=target,
            details={"reason": reason, "account_failures": failures},
        )


def _user_actor(user_id: UUID, email: str | None, meta: RequestMeta) -> Actor:
    return Actor(
        ref=f"user:{user_id}", name=email, request_id=meta.request_id, source_ip=meta.source_ip
    )
