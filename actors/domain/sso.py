"""Single sign-on (OpenID Connect, authorization code with PKCE) — the rules, pure.

A tenant (or the platform) names one identity provider by its issuer URL; a sign-in is
``.../sso/start`` (a redirect carrying ``state``, ``nonce`` and a PKCE S256 challenge, the
three kept server-side) then ``.../sso/callback`` (the code exchanged with the verifier,
the ID token's signature checked against the provider's JWKS, then its claims here:
:func:`check_id_token_claims`). What the claims may make of a person is decided here too:
only addresses of the allowed domains (:func:`email_domain_allowed`), with the roles the
mapping grants (:func:`mapped_roles`) and never a role of the other scope.

Nothing in this module performs I/O; the HTTP calls and the JWKS live in ``store/oidc.py``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

import msgspec

from actors.domain.rbac import PLATFORM_ROLES, TENANT_ROLES, Role
from actors.errors import Invalid

#: Signature algorithms an ID token may use: asymmetric only. ``none`` and the HMAC
#: family (keyed with the client secret, which the server then shares with every
#: tenant admin who configured it) are never accepted.
IdTokenAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]
DEFAULT_ALGORITHMS: tuple[IdTokenAlgorithm, ...] = ("RS256",)
#: Why a sign-in failed, as the audit trail records it.
FailureReason = Literal[
    "unknown_state",
    "provider_error",
    "provider_disabled",
    "token_exchange_failed",
    "id_token_invalid",
    "email_unverified",
    "domain_not_allowed",
    "no_roles",
    "email_elsewhere",
    "account_disabled",
    "tenant_suspended",
]
#: The one password hash JIT users get: not an argon2 hash, so no password ever matches
#: it (store/passwords.py treats a foreign hash as a mismatch).
NO_PASSWORD_HASH = "!sso"  # noqa: S105 - a marker, not a secret
STATE_BYTES = 32
#: RFC 7636 §4.1: 43 to 128 characters; 32 random bytes give 43.
VERIFIER_BYTES = 32

HttpsUrl = Annotated[str, msgspec.Meta(min_length=8, max_length=500)]
RedirectUrl = Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")]
ClientSecret = Annotated[
    str, msgspec.Meta(min_length=1, max_length=1000, pattern=r"^[\x20-\x7e]+$")
]
Scope = Annotated[
    str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")
]
Domain = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=253, pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$"
    ),
]
ClaimName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]
ClaimValue = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RoleGrant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A person whose role claim holds ``value`` gets ``roles``."""

    value: ClaimValue
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=len(Role))]


RoleMapping = Annotated[list[RoleGrant], msgspec.Meta(max_length=100)]


class SsoProvider(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's (or, ``tenant_id`` ``None``, the platform's) identity provider."""

    id: UUID
    tenant_id: UUID | None
    issuer: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    role_claim: str
    role_mapping: tuple[RoleGrant, ...]
    default_roles: tuple[Role, ...]
    algorithms: tuple[IdTokenAlgorithm, ...]
    password_login: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str
    #: The client secret as sealed by the application; never answered by any read.
    client_secret_sealed: bytes | None = None

    @property
    def ref(self) -> str:
        return f"sso:{self.id}"

    @property
    def has_client_secret(self) -> bool:
        return self.client_secret_sealed is not None


class SsoProviderView(msgspec.Struct, frozen=True, kw_only=True):
    """What reads answer (and the audit trail records): everything but the secret."""

    id: UUID
    tenant_id: UUID | None
    issuer: str
    client_id: str
    #: Whether a client secret is stored (it is never shown).
    has_client_secret: bool
    redirect_uri: str
    scopes: list[str]
    allowed_domains: list[str]
    role_claim: str
    role_mapping: list[RoleGrant]
    default_roles: list[Role]
    algorithms: list[IdTokenAlgorithm]
    password_login: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, p: SsoProvider) -> SsoProviderView:
        return cls(
            id=p.id,
            tenant_id=p.tenant_id,
            issuer=p.issuer,
            client_id=p.client_id,
            has_client_secret=p.has_client_secret,
            redirect_uri=p.redirect_uri,
            scopes=list(p.scopes),
            allowed_domains=list(p.allowed_domains),
            role_claim=p.role_claim,
            role_mapping=list(p.role_mapping),
            default_roles=list(p.default_roles),
            algorithms=list(p.algorithms),
            password_login=p.password_login,
            enabled=p.enabled,
            created_at=p.created_at,
            updated_at=p.updated_at,
            updated_by=p.updated_by,
        )


class PendingSignIn(msgspec.Struct, frozen=True, kw_only=True):
    """A started sign-in, spent by its callback (single use)."""

    provider_id: UUID
    nonce: str
    code_verifier: str


class SsoRejected(Exception):
    """The provider, or what it sent, failed a check. ``reason`` goes to the audit trail;
    ``detail`` is safe to show the person signing in."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: FailureReason = reason
        self.detail = detail


class IdentityClaims(msgspec.Struct, frozen=True, kw_only=True):
    """What a verified ID token says about the person."""

    subject: str
    email: str
    #: The values of the provider's role claim (a string claim is one value).
    role_values: tuple[str, ...]
    #: The provider says the person proved more than one factor (:func:`multi_factor`).
    multi_factor: bool = False


#: RFC 8176 authentication method references that are factors of their own.
_FACTORS = frozenset(
    {
        "face",
        "fpt",
        "hwk",
        "iris",
        "kba",
        "otp",
        "pin",
        "pwd",
        "retina",
        "sc",
        "sms",
        "swk",
        "tel",
        "vbm",
    }
)


def multi_factor(amr: object) -> bool:
    """Whether an ID token's ``amr`` shows a second factor: ``mfa``, or two distinct
    factors (e.g. ``pwd`` and ``otp``). A missing or malformed claim shows none."""
    if not isinstance(amr, list):
        return False
    methods = {m for m in amr if isinstance(m, str)}
    return "mfa" in methods or len(methods & _FACTORS) >= 2


# -- configuration -------------------------------------------------------------------


def check_url(url: str, *, field: str, require_https: bool) -> str:
    """An absolute ``https`` URL (``http`` too when ``require_https`` is off, for
    development), without fragment or credentials.

    :raises Invalid: naming ``field`` otherwise."""
    parts = urlsplit(url)
    schemes = ("https",) if require_https else ("https", "http")
    if (
        parts.scheme not in schemes
        or not parts.hostname
        or parts.fragment
        or parts.username is not None
        or parts.password is not None
        or any(ch.isspace() or ord(ch) < 0x20 for ch in url)
    ):
        allowed = " or ".join(schemes)
        raise Invalid(f"must be an absolute {allowed} URL without fragment", field=field)
    return url


def check_issuer(issuer: str, *, require_https: bool, allowed_prefixes: Sequence[str]) -> str:
    """The issuer as given (OIDC compares it byte for byte), if acceptable: a URL
    without query, under one of ``allowed_prefixes`` when the installation lists some
    (the server fetches what tenant admins name here: the list bounds where it may go).

    :raises Invalid: (field ``issuer``)."""
    check_url(issuer, field="issuer", require_https=require_https)
    if urlsplit(issuer).query:
        raise Invalid("an issuer URL has no query", field="issuer")
    if allowed_prefixes and not any(issuer.startswith(p) for p in allowed_prefixes):
        raise Invalid("this issuer is not among the installation's allowed ones", field="issuer")
    return issuer


def normalize_domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def domain_list(domains: Iterable[str]) -> tuple[str, ...]:
    """Normalised, de-duplicated, stable.

    :raises Invalid: (field ``allowed_domains``) if none is left."""
    chosen = tuple(sorted({normalize_domain(d) for d in domains} - {""}))
    if not chosen:
        raise Invalid("at least one email domain is required", field="allowed_domains")
    return chosen


def scope_roles(tenant_id: UUID | None, roles: Iterable[Role], *, field: str) -> tuple[Role, ...]:
    """``roles`` de-duplicated, each of the provider's scope: tenant roles for a tenant's
    provider, platform roles for the platform's — a tenant's provider can never mint a
    platform admin.

    :raises Invalid: naming ``field``."""
    chosen = tuple(sorted(set(roles)))
    allowed = TENANT_ROLES if tenant_id is not None else PLATFORM_ROLES
    wrong = [r.value for r in chosen if r not in allowed]
    if wrong:
        kind = "tenant" if tenant_id is not None else "platform"
        raise Invalid(f"not a {kind} role: {', '.join(wrong)}", field=field)
    return chosen


def check_mapping(tenant_id: UUID | None, mapping: Iterable[RoleGrant]) -> tuple[RoleGrant, ...]:
    """:raises Invalid: (field ``role_mapping``) for a role of the other scope or a value
    mapped twice."""
    grants = tuple(mapping)
    values = [g.value for g in grants]
    if len(set(values)) != len(values):
        raise Invalid("each claim value is mapped once", field="role_mapping")
    return tuple(
        RoleGrant(value=g.value, roles=list(scope_roles(tenant_id, g.roles, field="role_mapping")))
        for g in grants
    )


# -- the sign-in ---------------------------------------------------------------------


def new_state() -> str:
    return secrets.token_urlsafe(STATE_BYTES)


def state_digest(state: str) -> bytes:
    """What is stored for ``state``: its SHA-256 (a database read gives no usable state)."""
    return hashlib.sha256(state.encode("utf-8", errors="replace")).digest()


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    return secrets.token_urlsafe(VERIFIER_BYTES)


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    endpoint: str,
    provider: SsoProvider,
    *,
    state: str,
    nonce: str,
    code_verifier: str,
) -> str:
    """Where ``.../sso/start`` sends the browser: the provider's authorization endpoint
    with the request's parameters added to any it already has."""
    parts = urlsplit(endpoint)
    params = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in _AUTHORIZE_PARAMS
    ]
    params += [
        ("response_type", "code"),
        ("client_id", provider.client_id),
        ("redirect_uri", provider.redirect_uri),
        ("scope", " ".join(provider.scopes)),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", code_challenge(code_verifier)),
        ("code_challenge_method", "S256"),
    ]
    return urlunsplit(parts._replace(query=urlencode(params)))


_AUTHORIZE_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)


def check_id_token_claims(
    claims: Mapping[str, object],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    role_claim: str,
    now: float,
    leeway_s: int,
) -> IdentityClaims:
    """OIDC Core §3.1.3.7, for a token whose signature was already verified: ``iss`` is
    the configured issuer exactly; ``aud`` names this client (and, with several
    audiences, ``azp`` is this client); ``exp`` is in the future and ``iat`` not in it
    (within ``leeway_s``); ``nonce`` is the one this sign-in sent; ``sub`` is present;
    the email is present and verified (``email_verified`` true).

    :raises SsoRejected: ``id_token_invalid`` or ``email_unverified``."""

    def invalid(what: str) -> SsoRejected:
        return SsoRejected("id_token_invalid", f"the identity provider's ID token {what}")

    if claims.get("iss") != issuer:
        raise invalid("is from another issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise invalid("is not meant for this client (aud)")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise invalid("names another authorized party (azp)")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_time(exp) or not _is_time(iat):
        raise invalid("lacks exp or iat")
    assert isinstance(exp, int | float)
    assert isinstance(iat, int | float)
    if exp + leeway_s <= now:
        raise invalid("has expired")
    if iat - leeway_s > now:
        raise invalid("is issued in the future")
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_time(nbf) or float(nbf) - leeway_s > now):  # type: ignore[arg-type]
        raise invalid("is not valid yet")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not secrets.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise invalid("does not carry this sign-in's nonce")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= 255:
        raise invalid("has no usable subject")
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        raise SsoRejected(
            "email_unverified", "the identity provider did not assert a verified email"
        )
    return IdentityClaims(
        subject=sub,
        email=email,
        role_values=_claim_values(claims, role_claim),
        multi_factor=multi_factor(claims.get("amr")),
    )


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _claim_values(claims: Mapping[str, object], name: str) -> tuple[str, ...]:
    value = claims.get(name)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def email_domain_allowed(email: str, allowed: Iterable[str]) -> bool:
    """Whether ``email``'s domain is exactly one of ``allowed`` (a subdomain is not its
    parent: list it)."""
    _, at, domain = email.rpartition("@")
    return bool(at) and normalize_domain(domain) in set(allowed)


def mapped_roles(provider: SsoProvider, values: Iterable[str]) -> tuple[Role, ...]:
    """The provider's default roles plus those of every grant whose value the person's
    role claim holds; empty: the person gets no account."""
    held = set(values)
    roles = set(provider.default_roles)
    for grant in provider.role_mapping:
        if grant.value in held:
            roles.update(grant.roles)
    return scope_roles(provider.tenant_id, roles, field="roles")
