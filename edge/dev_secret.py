"""The signing key of a development or test installation that names none.

``JWT_SECRET`` unset outside ``ENV=prod`` used to mean a key published in the source, with
which anyone could mint working tokens. Now such an installation generates a random key
once, keeps it in ``<DATA_DIR>/jwt-secret`` (mode 0600, created atomically, shared by the
nodes that share the folder), and says so loudly at start. ``ENV=prod`` still refuses to
start without a strong ``JWT_SECRET`` (actors/settings.py).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from actors.settings import DEV_JWT_SECRET, Settings

log = logging.getLogger(__name__)

SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name
#: 512 bits: enough for HS512, the largest algorithm.
SECRET_BYTES = 64


def with_installation_secret(settings: Settings) -> Settings:
    """``settings`` with ``jwt_secret`` replaced by this installation's own key when it
    is the unset default (``ENV`` dev or test); unchanged otherwise."""
    if settings.is_prod or settings.auth.jwt_secret != DEV_JWT_SECRET:
        return settings
    path = Path(settings.database.data_dir) / SECRET_FILE
    secret = installation_secret(path)
    log.warning(
        "ENV=%s without JWT_SECRET: access tokens are signed with this installation's "
        "generated key in %s. Never expose a development node; set ENV=prod and a "
        "JWT_SECRET of at least 32 random bytes for any real use",
        settings.env,
        path,
    )
    return settings.updated(jwt_secret=secret)


def installation_secret(path: Path) -> str:
    """The key in ``path``, created (0600, atomically: concurrent starts agree) if absent.

    :raises OSError: if the folder cannot be created or the file read.
    """
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secret + "\n")
        try:
            # link() fails if another process got there first: then theirs is the key.
            os.link(draft, path)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
    finally:
        draft.unlink(missing_ok=True)
    return secret
