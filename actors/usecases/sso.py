"""Single sign-on (OpenID Connect): configure a tenant's (or the platform's) provider, and
the sign-in itself — start (a redirect) and callback (the project's normal token pair).

Configuration is ``sso.manage``: a tenant_admin for the tenant, a platform_admin for the
platform. Each change is audited with before and after (never the client secret, which
is sealed at rest and answered by no read).

A sign-in is two unauthenticated requests, both rate-limited per source address:

- ``start``: a fresh ``state`` (only its digest is stored), ``nonce`` and PKCE verifier
  are kept in PostgreSQL for ``SSO_STATE_TTL_S``; the browser is sent to the provider with
  the state, the nonce and the S256 challenge.
- ``callback``: the state is spent (deleted) before anything else, so it works once
  whatever happens next; the code is exchanged with the verifier; the ID token's
  signature is checked against the provider's JWKS and its claims here
  (:func:`~actors.domain.sso.check_id_token_claims`); then the person is found by
  (issuer, subject), or linked by email within the same scope, or created just in time —
  only for an allowed email domain, with the mapped roles, which are synchronised at each
  sign-in. A session opens exactly as a password login's does.

Every callback's outcome is audited on the scope's chain: ``auth.login`` (``"method":
"sso"``) or ``auth.sso_failed`` with its reason.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

import msgspec

from actors.domain.login_sessions import LoginCandidate, session_digest
from actors.domain.principal import AuditActor, Principal, RequestMeta
from actors.domain.rbac import Permission, Role, authorize
from actors.domain.sso import (
    DEFAULT_ALGORITHMS,
    NO_PASSWORD_HASH,
    ClaimName,
    ClientId,
    ClientSecret,
    Domain,
    FailureReason,
    HttpsUrl,
    IdentityClaims,
    IdTokenAlgorithm,
    PendingSignIn,
    RedirectUrl,
    RoleMapping,
    Scope,
    SsoProvider,
    SsoProviderView,
    SsoRejected,
    authorization_url,
    check_id_token_claims,
    check_issuer,
    check_mapping,
    check_url,
    domain_list,
    email_domain_allowed,
    mapped_roles,
    new_code_verifier,
    new_nonce,
    new_state,
    scope_roles,
    state_digest,
)
from actors.domain.tokens import AccessTokens, new_refresh_token
from actors.domain.users import User, normalize_email
from actors.errors import Forbidden, Invalid, NotFound, Unauthenticated
from actors.ports.sso import IdentityProviders, SecretSealer
from actors.ports.uow import Tx, UnitOfWork
from actors.ratelimit import Clock, KeyedBuckets, source_key
from actors.settings import Settings
from actors.usecases.login_outcomes import TokenPair, user_actor

#: The answer to a state that is unknown, expired or spent, whatever the case.
BAD_STATE = "this sign-in is unknown, expired or already used; start again"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Expired sign-ins deleted per housekeeping round.
PURGE_BATCH = 10_000
#: Failures whose detail the person may see as is; the others are told only this.
REFUSED = "single sign-on refused this sign-in"

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class ConfigureSso(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``PUT .../sso``: the whole configuration. ``client_secret`` absent keeps the
    stored one (a public client has none); it is never answered back."""

    issuer: HttpsUrl
    client_id: ClientId
    redirect_uri: RedirectUrl
    allowed_domains: Annotated[list[Domain], msgspec.Meta(min_length=1, max_length=50)]
    client_secret: ClientSecret | None = None
    #: Drop a stored client secret (the client becomes a public one).
    clear_client_secret: bool = False
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=20)] = msgspec.field(
        default_factory=lambda: ["openid", "email", "profile"]
    )
    #: The ID-token claim whose values are mapped to roles (a string or a list of them).
    role_claim: ClaimName = "groups"
    role_mapping: RoleMapping = msgspec.field(default_factory=list)
    #: Roles every signed-in person of an allowed domain gets (empty: only mapped ones).
    default_roles: Annotated[list[Role], msgspec.Meta(max_length=len(Role))] = msgspec.field(
        default_factory=list
    )
    algorithms: Annotated[list[IdTokenAlgorithm], msgspec.Meta(min_length=1, max_length=10)] = (
        msgspec.field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    )
    #: ``false``: the tenant's users may not log in with a password (tenants only).
    password_login: bool = True
    enabled: bool = True


class SsoCallback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The query the provider sends the browser back with (RFC 6749 §4.1.2, RFC 9207)."""

    state: Text | None = None
    code: Text | None = None
    error: Text | None = None
    error_description: Text | None = None
    error_uri: Text | None = None
    iss: Text | None = None
    session_state: Text | None = None


class SsoStart(msgspec.Struct, frozen=True):
    """Where to send the browser (the 302's ``Location``)."""

    location: str


class SsoPolicy(msgspec.Struct, frozen=True, kw_only=True):
    state_ttl_s: int
    leeway_s: int
    refresh_ttl_s: int
    session_max_age_s: int
    require_https: bool
    allowed_issuers: tuple[str, ...]

    @classmethod
    def from_settings(cls, s: Settings) -> SsoPolicy:
        return cls(
            state_ttl_s=s.sso.state_ttl_s,
            leeway_s=s.sso.leeway_s,
            refresh_ttl_s=s.auth.refresh_token_ttl_s,
            session_max_age_s=s.auth.session_max_age_s,
            require_https=s.is_prod,
            allowed_issuers=s.sso.issuer_prefixes,
        )


class _Failure(Exception):
    """A sign-in refused after its state was spent: audited, then answered."""

    def __init__(self, reason: FailureReason, detail: str, *, status: type[Exception]) -> None:
        super().__init__(detail)
        self.reason: FailureReason = reason
        self.detail = detail
        self.status = status


class SingleSignOn:
    def __init__(
        self,
        uow: UnitOfWork,
        providers: IdentityProviders,
        sealer: SecretSealer,
        tokens: AccessTokens,
        policy: SsoPolicy,
        requests: KeyedBuckets,
        *,
        clock: Clock = time.time,
    ) -> None:
        self._uow = uow
        self._providers = providers
        self._sealer = sealer
        self._tokens = tokens
        self._policy = policy
        self._requests = requests
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        uow: UnitOfWork,
        providers: IdentityProviders,
        sealer: SecretSealer,
        tokens: AccessTokens,
        settings: Settings,
    ) -> SingleSignOn:
        buckets = KeyedBuckets(
            settings.sso.per_s,
            settings.sso.burst,
            max_keys=settings.http.rate_limit_max_keys,
            clock=time.monotonic,
        )
        return cls(uow, providers, sealer, tokens, SsoPolicy.from_settings(settings), buckets)

    # -- configuration ---------------------------------------------------------------

    async def get(self, who: Principal, tenant_id: UUID | None) -> SsoProviderView:
        """:raises NotFound: (404) if the scope has no provider."""
        authorize(who, Permission.SSO_MANAGE, tenant_id)
        async with self._uow.scoped(tenant_id) as tx:
            await _scope_exists(tx, tenant_id)
            found = await tx.sso.get(tenant_id)
        if found is None:
            raise NotFound("single sign-on is not configured here")
        return SsoProviderView.of(found)

    async def configure(
        self, who: Principal, tenant_id: UUID | None, cmd: ConfigureSso
    ) -> SsoProviderView:
        """Create or replace the scope's provider.

        :raises Invalid: (422) for a URL that is not acceptable, a role of the other
            scope, a platform provider turning password login off, or a new provider
            without a client secret it would need.
        :raises Conflict: (409) if another admin configured it at the same moment."""
        authorize(who, Permission.SSO_MANAGE, tenant_id)
        p = self._policy
        issuer = check_issuer(
            cmd.issuer, require_https=p.require_https, allowed_prefixes=p.allowed_issuers
        )
        check_url(cmd.redirect_uri, field="redirect_uri", require_https=p.require_https)
        if "openid" not in cmd.scopes:
            raise Invalid("the scopes must include openid", field="scopes")
        if tenant_id is None and not cmd.password_login:
            raise Invalid(
                "the platform keeps password login: it is the way in when the provider is down",
                field="password_login",
            )
        mapping = check_mapping(tenant_id, cmd.role_mapping)
        defaults = scope_roles(tenant_id, cmd.default_roles, field="default_roles")
        context = _secret_context(tenant_id)
        async with self._uow.scoped(tenant_id) as tx:
            await _scope_exists(tx, tenant_id)
            before = await tx.sso.get(tenant_id, for_update=True)
            if cmd.client_secret is not None:
                sealed: bytes | None = self._sealer.seal(cmd.client_secret, context=context)
            elif cmd.clear_client_secret or before is None:
                sealed = None
            else:
                sealed = before.client_secret_sealed
            provider = SsoProvider(
                id=uuid4() if before is None else before.id,
                tenant_id=tenant_id,
                issuer=issuer,
                client_id=cmd.client_id,
                redirect_uri=cmd.redirect_uri,
                scopes=tuple(dict.fromkeys(cmd.scopes)),
                allowed_domains=domain_list(cmd.allowed_domains),
                role_claim=cmd.role_claim,
                role_mapping=mapping,
                default_roles=defaults,
                algorithms=tuple(dict.fromkeys(cmd.algorithms)),
                password_login=cmd.password_login,
                enabled=cmd.enabled,
                created_at=_epoch(before),
                updated_at=_epoch(before),
                updated_by=who.actor.ref,
                client_secret_sealed=sealed,
            )
            saved = await tx.sso.save(provider, create=before is None)
            after = SsoProviderView.of(saved)
            await tx.audit.append(
                tenant_id,
                who,
                "sso.configure",
                target=saved.ref,
                before=None if before is None else SsoProviderView.of(before),
                after=after,
                details={"client_secret_changed": cmd.client_secret is not None},
            )
        return after

    async def remove(self, who: Principal, tenant_id: UUID | None) -> None:
        """Remove the scope's provider: its sign-ins in flight and identity links go with
        it (users stay), and password login is allowed again.

        :raises NotFound: (404) if the scope has no provider."""
        authorize(who, Permission.SSO_MANAGE, tenant_id)
        async with self._uow.scoped(tenant_id) as tx:
            await _scope_exists(tx, tenant_id)
            removed = await tx.sso.delete(tenant_id)
            if removed is None:
                raise NotFound("single sign-on is not configured here")
            await tx.audit.append(
                tenant_id, who, "sso.remove", target=removed.ref, before=SsoProviderView.of(removed)
            )

    # -- the sign-in -----------------------------------------------------------------

    async def start(self, tenant_id: UUID | None, meta: RequestMeta) -> SsoStart:
        """Begin a sign-in: where to send the browser.

        :raises NotFound: (404) if the scope has no enabled provider.
        :raises Throttled: (429) past the source address's rate.
        :raises Unavailable: (503) if the provider cannot be reached."""
        self._requests.check(source_key(meta.source_ip), "single sign-on requests")
        async with self._uow.scoped(tenant_id) as tx:
            await _scope_exists(tx, tenant_id)
            provider = await tx.sso.get(tenant_id)
        if provider is None or not provider.enabled:
            raise NotFound("single sign-on is not configured here")
        try:
            endpoints = await self._providers.endpoints(provider.issuer)
        except SsoRejected as exc:
            raise Unauthenticated(exc.detail) from None
        state, nonce, verifier = new_state(), new_nonce(), new_code_verifier()
        async with self._uow.scoped(tenant_id) as tx:
            await tx.sso.open_sign_in(
                tenant_id,
                provider_id=provider.id,
                state_hash=state_digest(state),
                nonce=nonce,
                code_verifier=verifier,
                ttl_s=self._policy.state_ttl_s,
            )
        location = authorization_url(
            endpoints.authorization_endpoint,
            provider,
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )
        return SsoStart(location=location)

    async def purge_expired_sign_ins(self) -> int:
        """Delete sign-ins that were started and never finished (housekeeping job; the
        start also purges its own scope's)."""
        async with self._uow.platform() as tx:
            return await tx.sso.purge_expired_sign_ins(limit=PURGE_BATCH)

    async def callback(
        self, tenant_id: UUID | None, cmd: SsoCallback, meta: RequestMeta
    ) -> TokenPair:
        """Finish a sign-in: a token pair, as a password login answers.

        :raises NotFound: (404) if the scope has no provider.
        :raises Throttled: (429) past the source address's rate.
        :raises Unauthenticated: (401) for an unknown, expired or spent state, a provider
            error, a refused code or an ID token that fails a check.
        :raises Forbidden: (403) for a person the configuration does not admit: an email
            domain not allowed, no role mapped, an address of another tenant's (or the
            platform's) account, a disabled account or a suspended tenant.
        :raises Unavailable: (503) if the provider cannot be reached."""
        self._requests.check(source_key(meta.source_ip), "single sign-on requests")
        if cmd.state is None:
            raise Invalid("the provider sent no state", field="state")
        async with self._uow.scoped(tenant_id) as tx:
            await _scope_exists(tx, tenant_id)
            pending = await tx.sso.spend_sign_in(tenant_id, state_digest(cmd.state))
            provider = await tx.sso.get(tenant_id)
        if provider is None:
            raise NotFound("single sign-on is not configured here")
        try:
            if pending is None or pending.provider_id != provider.id:
                raise _Failure("unknown_state", BAD_STATE, status=Unauthenticated)
            claims = await self._verified_identity(provider, pending, cmd)
            email, roles = _admitted(provider, claims)
            async with self._uow.anonymous() as lookup:
                holder = await lookup.users.login_candidate(email)
            if holder is not None and holder.tenant_id != tenant_id:
                # The provider of one tenant can neither produce nor reach a user of
                # another (or of the platform): email addresses are unique everywhere.
                raise _Failure(
                    "email_elsewhere",
                    "this email belongs to an account that cannot sign in here",
                    status=Forbidden,
                )
            async with self._uow.scoped(tenant_id) as tx:
                return await self._sign_in(tx, provider, claims, email, roles, holder, meta)
        except _Failure as failure:
            async with self._uow.scoped(tenant_id) as tx:
                await tx.audit.append(
                    tenant_id,
                    AuditActor.anonymous(meta),
                    "auth.sso_failed",
                    target=provider.ref,
                    details={"reason": failure.reason, "detail": failure.detail},
                )
            raise failure.status(failure.detail) from None

    async def _verified_identity(
        self, provider: SsoProvider, pending: PendingSignIn, cmd: SsoCallback
    ) -> IdentityClaims:
        if not provider.enabled:
            raise _Failure("provider_disabled", REFUSED, status=Unauthenticated)
        if cmd.error is not None or cmd.code is None:
            error = (cmd.error or "no code")[:64]
            raise _Failure(
                "provider_error", f"the identity provider answered: {error}", status=Unauthenticated
            )
        if cmd.iss is not None and cmd.iss != provider.issuer:
            # RFC 9207: the answer comes from another provider (a mix-up attack).
            raise _Failure(
                "provider_error", "the answer names another issuer", status=Unauthenticated
            )
        secret = None
        if provider.client_secret_sealed is not None:
            secret = self._sealer.open(
                provider.client_secret_sealed, context=_secret_context(provider.tenant_id)
            )
        try:
            endpoints = await self._providers.endpoints(provider.issuer)
            id_token = await self._providers.exchange_code(
                endpoints,
                client_id=provider.client_id,
                client_secret=secret,
                code=cmd.code,
                redirect_uri=provider.redirect_uri,
                code_verifier=pending.code_verifier,
            )
            raw = await self._providers.verified_claims(
                endpoints, id_token, algorithms=provider.algorithms
            )
            return check_id_token_claims(
                raw,
                issuer=provider.issuer,
                client_id=provider.client_id,
                nonce=pending.nonce,
                role_claim=provider.role_claim,
                now=self._clock(),
                leeway_s=self._policy.leeway_s,
            )
        except SsoRejected as exc:
            status = Forbidden if exc.reason == "email_unverified" else Unauthenticated
            raise _Failure(exc.reason, exc.detail, status=status) from None

    async def _sign_in(
        self,
        tx: Tx,
        provider: SsoProvider,
        claims: IdentityClaims,
        email: str,
        roles: tuple[Role, ...],
        holder: LoginCandidate | None,
        meta: RequestMeta,
    ) -> TokenPair:
        """Find (by subject), link (by email, same scope) or create the person, sync the
        roles, then open the session — in one transaction."""
        tid = provider.tenant_id
        if tid is not None:
            tenant = await tx.tenants.get(tid)
            if tenant is None or not tenant.active:
                raise _Failure("tenant_suspended", REFUSED, status=Forbidden)
        linked = await tx.sso.identity(tid, provider.id, provider.issuer, claims.subject)
        created = False
        user: User | None
        if linked is not None:
            user = await tx.users.get(tid, linked, for_update=True)
        else:
            user = (
                None if holder is None else await tx.users.get(tid, holder.user_id, for_update=True)
            )
            if user is None:
                user = await tx.users.create(
                    tenant_id=tid, email=email, password_hash=NO_PASSWORD_HASH, roles=roles
                )
                created = True
            if not await tx.sso.link(
                tid,
                user_id=user.id,
                provider_id=provider.id,
                issuer=provider.issuer,
                subject=claims.subject,
            ):
                raise _Failure(
                    "email_elsewhere",
                    "this email's account is linked to another identity",
                    status=Forbidden,
                )
        if user is None or user.disabled:
            raise _Failure("account_disabled", REFUSED, status=Forbidden)
        before = user
        if not created and user.roles != roles:
            user = await tx.users.update(tid, user.id, roles=roles)
        pair, session_id = await self._open_session(tx, user, meta, claims.multi_factor)
        actor = user_actor(user.id, user.email, meta)
        if created:
            await tx.audit.append(
                tid, actor, "user.create", target=user.ref, after=user, details={"via": "sso"}
            )
        elif before.roles != user.roles:
            await tx.audit.append(
                tid,
                actor,
                "user.roles_change",
                target=user.ref,
                before={"roles": before.roles},
                after={"roles": user.roles},
                details={"via": "sso", "role_claim": provider.role_claim},
            )
        await tx.audit.append(
            tid,
            actor,
            "auth.login",
            target=user.ref,
            details={
                "session": session_digest(session_id),
                "method": "sso",
                "provider": provider.ref,
                "issuer": provider.issuer,
                "jit": created,
                "mfa_at_provider": claims.multi_factor,
                "roles": list(user.roles),
            },
        )
        return pair

    async def _open_session(
        self, tx: Tx, user: User, meta: RequestMeta, mfa_at_provider: bool
    ) -> tuple[TokenPair, UUID]:
        refresh, digest = new_refresh_token()
        session_id = await tx.sessions.open(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=digest,
            token_ttl_s=self._policy.refresh_ttl_s,
            family_ttl_s=self._policy.session_max_age_s,
            source_ip=meta.source_ip,
            mfa_at_provider=mfa_at_provider,
        )
        await tx.sessions.purge_expired(user.tenant_id, user.id)
        access = self._tokens.issue(
            user_id=user.id, tenant_id=user.tenant_id, session_id=session_id, roles=user.roles
        )
        pair = TokenPair(
            access_token=access.token, refresh_token=refresh, expires_in=access.expires_in
        )
        return pair, session_id


def _admitted(provider: SsoProvider, claims: IdentityClaims) -> tuple[str, tuple[Role, ...]]:
    """The person's normalised email and roles, if the configuration admits them."""
    try:
        email = normalize_email(claims.email)
    except Invalid:
        raise _Failure(
            "email_unverified", "the provider's email is not usable", status=Forbidden
        ) from None
    if not email_domain_allowed(email, provider.allowed_domains):
        raise _Failure(
            "domain_not_allowed",
            "your email domain is not allowed to sign in here",
            status=Forbidden,
        )
    roles = mapped_roles(provider, claims.role_values)
    if not roles:
        raise _Failure("no_roles", "no role is mapped for you here", status=Forbidden)
    return email, roles


async def _scope_exists(tx: Tx, tenant_id: UUID | None) -> None:
    if tenant_id is not None and await tx.tenants.get(tenant_id) is None:
        raise NotFound("no such tenant")


def _secret_context(tenant_id: UUID | None) -> str:
    return f"sso-client-secret:{tenant_id or 'platform'}"


def _epoch(before: SsoProvider | None) -> datetime:
    """Placeholder timestamps for a row about to be written (the database sets them)."""
    return before.created_at if before is not None else _EPOCH
