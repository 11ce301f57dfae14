"""Secrets at rest (SSO client secrets): AES-256-GCM under a key derived with HKDF-SHA256.

Layout of a sealed value: one version byte (``1``), a 96-bit random nonce, then the
ciphertext with its 128-bit tag. The ``context`` (which provider the secret belongs to)
is the associated data, so a sealed value copied into another tenant's row does not open.

The key comes from ``SSO_SECRET_KEY``, or when that is unset from ``JWT_SECRET`` (under
its own HKDF label, so the two uses never share key material). Changing it makes every
stored client secret unreadable: the sign-ins of those providers then answer 503 until
their secrets are entered again (docs/operations.md, "SSO").
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from actors.errors import Unavailable
from actors.settings import Settings

VERSION = 1
NONCE_BYTES = 12
_LABEL = b"signage sso client secret v1"


class SecretBox:
    """Implements :class:`actors.ports.sso.SecretSealer`."""

    def __init__(self, key_material: str) -> None:
        if not key_material:
            raise ValueError("a secret box needs key material")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
            key_material.encode()
        )
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(settings.sso.secret_key or settings.auth.jwt_secret)

    def seal(self, secret: str, *, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return (
            bytes([VERSION]) + nonce + self._aead.encrypt(nonce, secret.encode(), context.encode())
        )

    def open(self, sealed: bytes, *, context: str) -> str:
        if len(sealed) <= 1 + NONCE_BYTES or sealed[0] != VERSION:
            raise Unavailable("a stored client secret is malformed; enter it again")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag:
            raise Unavailable(
                "the stored client secret cannot be opened (SSO_SECRET_KEY changed?); "
                "enter it again"
            ) from None
