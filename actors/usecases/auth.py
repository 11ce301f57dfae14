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
from actors.domain.sessions import LoginCandidate
from actors.domain.throttle import ThrottlePolicy, account_key, address_key
from actors.domain.tokens import (
    AccessTokens,
    new_refresh_token,
    refresh_token_digest,
)
from actors.domain.users import Email, GivenPassword, normalize_email
from actors.errors import Throttled, Unauthenticated
from actors.ports import PasswordHasher, Tx, UnitOfWork
from actors.settings import Settings

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

    async def login(self, cmd: Login, meta: RequestMeta) -> TokenPair:
        """:raises Throttled: while the account or the source address is blocked.
        :raises Unauthenticated: for any failure (one message for all of them)."""
        email = normalize_email(cmd.email)
        keys = _Keys(email, meta)
        async with self._uow.anonymous() as tx:
            wait = await tx.throttle.retry_after(keys.all)
            candidate = None if wait else await tx.users.login_candidate(email)
        if wait:
            raise Throttled("too many failed logins; retry later", wait)

        stored = None if candidate is None else candidate.password_hash
        check = await self._passwords.verify(cmd.password, stored)
        if candidate is None or not check.ok:
            reason: FailureReason = "unknown_email" if candidate is None else "bad_password"
            tenant_id = None if candidate is None else candidate.tenant_id
            async with self._uow.scoped(tenant_id) as tx:
                await self._failed(tx, email, candidate, reason, keys, meta)
            raise Unauthenticated(BAD_CREDENTIALS)

        tid = candidate.tenant_id
        pair: TokenPair | None = None
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
            else:
                if check.new_hash is not None:
                    await tx.users.set_password_hash(tid, user.id, check.new_hash)
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
                await tx.throttle.clear(keys.account)
                await tx.audit.append(
                    tid,
                    _user_actor(user.id, user.email, meta),
                    "auth.login",
                    target=user.ref,
                    details={"session": session_id, "rehashed": check.new_hash is not None},
                )
                pair = self._pair(user.id, tid, session_id, user.roles, refresh)
        if pair is None:
            raise Unauthenticated(BAD_CREDENTIALS)
        return pair

    async def refresh(self, cmd: Refresh, meta: RequestMeta) -> TokenPair:
        """Spend a refresh token for a new pair. Presenting a token that was already spent
        revokes its whole family (the audit trail records it) and fails.

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
            state = await tx.sessions.lock_token(tid, owner.token_id)
            if state is None or not state.family_live:
                pass
            elif state.spent:
                # Someone holds a copy of an old token: end the session for everyone.
                await tx.sessions.revoke_family(tid, state.family_id, "reuse")
                await tx.audit.append(
                    tid,
                    Actor.anonymous(meta),
                    "auth.refresh_reuse",
                    target=f"session:{state.family_id}",
                    details={"user": f"user:{state.user_id}", "family_revoked": True},
                )
            elif not state.expired and state.account_active:
                user = await tx.users.get(tid, state.user_id)
                if user is not None:
                    refresh, new_digest = new_refresh_token()
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
                    target=f"session:{owner.family_id}",
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
        keys: _Keys,
        meta: RequestMeta,
    ) -> None:
        """Count a failed login against its keys (blocking those over budget) and audit
        it on the account's chain, or the platform's for unknown emails."""
        failures = 0
        for key, policy in keys.with_policies(self._policy):
            count = await tx.throttle.count_failure(key, window_s=policy.window_s)
            block = policy.block_for(count)
            if block:
                await tx.throttle.block(key, block)
            if key == keys.account:
                failures = count
        await tx.throttle.purge_stale(window_s=self._policy.per_account.window_s)
        target = f"email:{email}" if candidate is None else f"user:{candidate.user_id}"
        await tx.audit.append(
            None if candidate is None else candidate.tenant_id,
            Actor.anonymous(meta, claimed_name=email),
            "auth.login_failed",
            target=target,
            details={"reason": reason, "account_failures": failures},
        )


class _Keys:
    """The throttle keys one login attempt counts against."""

    def __init__(self, email: str, meta: RequestMeta) -> None:
        self.account = account_key(email)
        self.address = address_key(meta.source_ip)
        self.all = [self.account] if self.address is None else [self.account, self.address]

    def with_policies(self, policy: AuthPolicy) -> list[tuple[str, ThrottlePolicy]]:
        pairs = [(self.account, policy.per_account)]
        if self.address is not None:
            pairs.append((self.address, policy.per_address))
        return pairs


def _user_actor(user_id: UUID, email: str | None, meta: RequestMeta) -> Actor:
    return Actor(
        ref=f"user:{user_id}", name=email, request_id=meta.request_id, source_ip=meta.source_ip
    )
