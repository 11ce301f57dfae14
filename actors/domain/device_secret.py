"""Device secrets: a screen's only credential.

A secret is 256 random bits (URL-safe base64), shown once at registration and stored only
as its SHA-256. A fast hash is right here — unlike passwords, the secret has full entropy,
so nothing can be brute-forced from the digest — and it lets a WebSocket upgrade find the
device with one indexed lookup. Compare digests, never secrets, and never log either.
"""

from __future__ import annotations

import hashlib
import secrets

SECRET_BYTES = 32
#: A prefix makes leaked secrets recognisable to secret scanners and in support tickets.
PREFIX = "sds_"
#: Upper bound on what is even hashed: anything longer is not one of ours.
MAX_PRESENTED_LENGTH = 128


def new_device_secret() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_device_secret(secret: str) -> bytes | None:
    """The stored digest for a presented secret, or None if it is malformed."""
    if not secret.startswith(PREFIX) or len(secret) > MAX_PRESENTED_LENGTH:
        return None
    return hashlib.sha256(secret.encode("ascii", errors="replace")).digest()
