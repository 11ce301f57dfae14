"""A small but genuine OpenID Connect provider for the SSO tests, served over real HTTP
on a local port (``http.server`` in a thread; never an online service).

It does what the server's sign-in relies on, and checks what a real provider checks:
discovery (``/.well-known/openid-configuration``), a JWKS with an RSA key, ``/authorize``
(registered client and redirect URI, ``response_type=code``, ``openid`` scope, a PKCE S256
challenge) answering a 302 with a single-use code, and ``/token`` (client authentication,
the code unused and unexpired, the same redirect URI, ``SHA256(code_verifier)`` equal to
the challenge) answering an RS256-signed ID token with the nonce of the authorization.

Who is "logged in" at the provider is :attr:`OidcProvider.person` (the claims its next
ID token carries). The knobs for the negative tests tamper with what it issues:
:attr:`claim_overrides` (e.g. another ``aud``, a past ``exp``) and :attr:`sign_with`
(a key the JWKS does not hold, under the published ``kid``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

KID = "test-key-1"
BASE_PATH = "/idp"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    claims: dict[str, Any]
    expires_at: float
    used: bool = False


@dataclass
class OidcProvider:
    issuer: str
    key: RSAKey
    clients: dict[str, tuple[str | None, set[str]]] = field(default_factory=dict)
    person: dict[str, Any] = field(default_factory=dict)
    claim_overrides: dict[str, Any] = field(default_factory=dict)
    sign_with: RSAKey | None = None
    #: The published key's id; :meth:`rotate_key` changes both.
    kid: str = KID
    grants: dict[str, _Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    #: Which endpoint answered, in order ("discovery", "jwks", "authorize", "token").
    served: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def jwks_fetches(self) -> int:
        return self.served.count("jwks")

    def register(self, client_id: str, secret: str | None, *redirect_uris: str) -> None:
        """A client; ``secret`` ``None`` makes it public (PKCE only)."""
        self.clients[client_id] = (secret, set(redirect_uris))

    def log_in(
        self, sub: str, email: str, *, groups: list[str] | None = None, **extra: Any
    ) -> None:
        """The person the next authorization is for."""
        self.person = {"sub": sub, "email": email, "email_verified": True, **extra}
        if groups is not None:
            self.person["groups"] = groups

    # -- endpoints -------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False, kid=self.kid, use="sig", alg="RS256")]}

    def rotate_key(self, kid: str) -> None:
        """A new signing key under a new id; the JWKS publishes only that one from now on."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid})
        self.kid = kid

    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or redirect_uri not in client[1]:
            # Never redirect to an unregistered URI (RFC 6749 §4.1.2.1).
            return 400, {}, {"error": "invalid_request", "error_description": "client"}
        state = params.get("state", "")

        def back(**answer: str) -> tuple[int, dict[str, str], Any]:
            query = urlencode({**answer, "state": state, "iss": self.issuer})
            return 302, {"Location": f"{redirect_uri}?{query}"}, None

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if "openid" not in params.get("scope", "").split():
            return back(error="invalid_scope")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE S256 required")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.grants[code] = _Grant(
                client_id=params["client_id"],
                redirect_uri=redirect_uri,
                challenge=params["code_challenge"],
                nonce=params.get("nonce"),
                claims=dict(self.person),
                expires_at=time.time() + 60,
            )
        return back(code=code)

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, Any]:
        self.token_requests.append(form)
        client_id, secret = _client_credentials(form, authorization)
        client = self.clients.get(client_id or "")
        if client is None or client[0] != secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            grant = self.grants.get(form.get("code", ""))
            if grant is None or grant.used or grant.expires_at < time.time():
                return 400, {"error": "invalid_grant", "error_description": "code"}
            grant.used = True  # single use, whatever follows
        if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "code_verifier"}
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **grant.claims,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.claim_overrides)
        key = self.sign_with or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": self.kid}, claims, key)
        return 200, {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }


def _client_credentials(
    form: dict[str, str], authorization: str | None
) -> tuple[str | None, str | None]:
    if authorization and authorization.startswith("Basic "):
        raw = base64.b64decode(authorization[6:]).decode()
        user, _, password = raw.partition(":")
        return unquote_plus(user), unquote_plus(password)
    return form.get("client_id"), None


def _handler(provider: OidcProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet tests

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == BASE_PATH + "/.well-known/openid-configuration":
                provider.served.append("discovery")
                self._answer(200, provider.discovery())
            elif url.path == BASE_PATH + "/jwks":
                provider.served.append("jwks")
                self._answer(200, provider.jwks())
            elif url.path == BASE_PATH + "/authorize":
                provider.served.append("authorize")
                status, headers, body = provider.authorize(params)
                self._answer(status, body, headers)
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != BASE_PATH + "/token":
                self._answer(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            provider.served.append("token")
            status, body = provider.token(form, self.headers.get("Authorization"))
            self._answer(status, body)

    return Handler


@contextmanager
def running_provider() -> Iterator[OidcProvider]:
    """A provider on 127.0.0.1 (a free port), for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    provider = OidcProvider(
        issuer=f"http://127.0.0.1:{port}{BASE_PATH}",
        key=RSAKey.generate_key(2048, parameters={"kid": KID}),
    )
    server.RequestHandlerClass = _handler(provider)
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
