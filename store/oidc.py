"""OpenID Connect providers over HTTP (httpx) with ID-token signatures checked by joserfc.

Implements :class:`actors.ports.sso.IdentityProviders`. Every call has a timeout and a
response-size cap and follows no redirect (a provider's endpoints are the URLs its
discovery document names, nothing else). Discovery documents and key sets are cached per
URL for ``metadata_ttl_s``, in a bounded map; a token signed with a key id the cached set
lacks refetches the set once (providers rotate keys). That refetch needs no throttle of
its own: ID tokens arrive from the provider's token endpoint over the server's own
connection, never from the browser, so only the provider names the key id, and each
callback is rate-limited and spends a state.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

import httpx
import msgspec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from actors.domain.sso import IdTokenAlgorithm, SsoRejected, check_url
from actors.errors import Unavailable
from actors.ports.sso import OidcEndpoints
from actors.settings import Settings

DISCOVERY_PATH = "/.well-known/openid-configuration"
#: Issuers (and key sets) remembered at once; the oldest is forgotten first.
MAX_CACHED = 256
MAX_ID_TOKEN_BYTES = 16 * 1024


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The context httpx would make for this client (certifi's CAs, no environment), made
    once per process: loading the CAs takes ~30 ms, which every app built used to pay."""
    return httpx.create_ssl_context(trust_env=False)


class _Cached[T]:
    def __init__(self, value: T, fetched_at: float) -> None:
        self.value = value
        self.fetched_at = fetched_at


class HttpIdentityProviders:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        metadata_ttl_s: float,
        max_response_bytes: int,
        require_https: bool,
    ) -> None:
        self._client = client
        self._ttl_s = metadata_ttl_s
        self._max_bytes = max_response_bytes
        self._require_https = require_https
        self._discovery: OrderedDict[str, _Cached[OidcEndpoints]] = OrderedDict()
        self._keys: OrderedDict[str, _Cached[KeySet]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpIdentityProviders:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.sso.http_timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
            headers={"User-Agent": "signage-sso", "Accept": "application/json"},
            trust_env=False,
            verify=_tls_context(),
        )
        return cls(
            client,
            metadata_ttl_s=settings.sso.metadata_ttl_s,
            max_response_bytes=settings.sso.max_response_bytes,
            require_https=settings.is_prod,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def endpoints(self, issuer: str) -> OidcEndpoints:
        cached = self._discovery.get(issuer)
        if cached is not None and time.monotonic() - cached.fetched_at < self._ttl_s:
            return cached.value
        doc = await self._get_json(issuer.rstrip("/") + DISCOVERY_PATH, "discovery document")
        try:
            found = msgspec.convert(doc, _Discovery)
        except msgspec.ValidationError as exc:
            raise _provider_error(f"its discovery document does not fit: {exc}") from None
        if found.issuer != issuer:
            # OIDC Discovery §4.3: the document must name exactly the issuer it was read for.
            raise _provider_error("its discovery document names another issuer")
        if "code" not in found.response_types_supported:
            raise _provider_error("it does not support the authorization code flow")
        methods = found.code_challenge_methods_supported
        if methods is not None and "S256" not in methods:
            raise _provider_error("it does not support PKCE with S256")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            try:
                check_url(getattr(found, field), field=field, require_https=self._require_https)
            except Exception:
                raise _provider_error(f"its {field} is not an acceptable URL") from None
        endpoints = OidcEndpoints(
            issuer=found.issuer,
            authorization_endpoint=found.authorization_endpoint,
            token_endpoint=found.token_endpoint,
            jwks_uri=found.jwks_uri,
        )
        _remember(self._discovery, issuer, _Cached(endpoints, time.monotonic()))
        return endpoints

    async def exchange_code(
        self,
        endpoints: OidcEndpoints,
        *,
        client_id: str,
        client_secret: str | None,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        auth: httpx.BasicAuth | None = None
        if client_secret is None:
            form["client_id"] = client_id
        else:
            # RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding.
            auth = httpx.BasicAuth(_form_encode(client_id), _form_encode(client_secret))
        request = self._client.build_request("POST", endpoints.token_endpoint, data=form)
        status, body = await self._send(request, "token endpoint", auth=auth)
        answer = _json_object(body)
        if status != 200:
            error = answer.get("error") if answer is not None else None
            raise SsoRejected(
                "token_exchange_failed",
                "the identity provider refused the code"
                + (f" ({error})" if isinstance(error, str) and len(error) <= 64 else ""),
            )
        id_token = None if answer is None else answer.get("id_token")
        if not isinstance(id_token, str) or len(id_token) > MAX_ID_TOKEN_BYTES:
            raise SsoRejected("token_exchange_failed", "the identity provider sent no ID token")
        return id_token

    async def verified_claims(
        self, endpoints: OidcEndpoints, id_token: str, *, algorithms: Sequence[IdTokenAlgorithm]
    ) -> Mapping[str, object]:
        try:
            header = jws.extract_compact(id_token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeEncodeError):
            raise _invalid("is malformed") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in algorithms:
            raise _invalid(f"is signed with an algorithm not allowed here ({alg!s:.16})")
        keys = await self._key_set(endpoints.jwks_uri, refresh=False)
        if kid is not None and not _has_kid(keys, kid):
            keys = await self._key_set(endpoints.jwks_uri, refresh=True)
        try:
            token = jws.deserialize_compact(id_token, keys, algorithms=list(algorithms))
        except (JoseError, ValueError):  # ValueError: no key of the set has the token's kid
            raise _invalid("has a signature that does not verify") from None
        claims = _json_object(token.payload)
        if claims is None:
            raise _invalid("has no JSON claims")
        return claims

    async def _key_set(self, jwks_uri: str, *, refresh: bool) -> KeySet:
        cached = self._keys.get(jwks_uri)
        now = time.monotonic()
        if cached is not None and not refresh and now - cached.fetched_at < self._ttl_s:
            return cached.value
        doc = await self._get_json(jwks_uri, "key set")
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise _provider_error("its key set (JWKS) cannot be read") from None
        _remember(self._keys, jwks_uri, _Cached(keys, now))
        return keys

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        status, body = await self._send(self._client.build_request("GET", url), what)
        if status != 200:
            raise Unavailable(f"the identity provider's {what} answered {status}")
        found = _json_object(body)
        if found is None:
            raise _provider_error(f"its {what} is not a JSON object")
        return found

    async def _send(
        self, request: httpx.Request, what: str, *, auth: httpx.BasicAuth | None = None
    ) -> tuple[int, bytes]:
        """The status and body, read as a stream and refused past the size cap."""
        try:
            response = await self._client.send(request, auth=auth, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise Unavailable(
                            f"the identity provider's {what} sent more than {self._max_bytes} bytes"
                        )
                    chunks.append(chunk)
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise Unavailable(f"the identity provider's {what}: {exc}") from None
        return response.status_code, b"".join(chunks)


class _Discovery(msgspec.Struct, frozen=True):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    response_types_supported: list[str]
    code_challenge_methods_supported: list[str] | None = None


def _json_object(raw: bytes | str) -> dict[str, Any] | None:
    try:
        found = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return found if isinstance(found, dict) else None


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


def _remember[T](cache: OrderedDict[str, _Cached[T]], key: str, value: _Cached[T]) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > MAX_CACHED:
        cache.popitem(last=False)


def _form_encode(value: str) -> str:
    return quote_plus(value)


def _provider_error(detail: str) -> SsoRejected:
    return SsoRejected("provider_error", f"the identity provider is misconfigured: {detail}")


def _invalid(what: str) -> SsoRejected:
    return SsoRejected("id_token_invalid", f"the identity provider's ID token {what}")
