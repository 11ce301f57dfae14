"""ENV=dev/test without JWT_SECRET: no published signing key (issue 14, L7)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import jwt
import pytest
from quart.typing import TestClientProtocol as Client

from actors.settings import DEV_JWT_SECRET, Settings
from edge.dev_secret import SECRET_FILE, installation_secret, with_installation_secret
from tests.auth.conftest import FAST_HASHING, Caller
from tests.conftest import make_settings


@pytest.fixture
def settings(db_clean: str, tmp_path: Path) -> Settings:
    # As a development node starts with no JWT_SECRET set.
    return make_settings(
        db_clean, **FAST_HASHING, env="dev", jwt_secret=DEV_JWT_SECRET, data_dir=str(tmp_path)
    )


@pytest.mark.anyio
async def test_a_token_signed_with_the_published_dev_key_is_refused(
    admin: Caller, client: Client, tmp_path: Path
) -> None:
    claims = jwt.decode(admin.access_token, options={"verify_signature": False})
    minted = jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {minted}"})
    assert response.status_code == 401
    # The node signs with the installation's own key instead, kept for the next start.
    own = (tmp_path / SECRET_FILE).read_text().strip()
    assert jwt.decode(admin.access_token, own, algorithms=["HS256"], audience="signage-admin")
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600


def test_the_installation_secret_is_made_once_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        "postgresql://x/y", env="dev", jwt_secret=DEV_JWT_SECRET, data_dir=str(tmp_path / "d")
    )
    with caplog.at_level(logging.WARNING):
        first = with_installation_secret(settings)
    assert first.auth.jwt_secret != DEV_JWT_SECRET
    assert len(first.auth.jwt_secret) >= 64
    assert with_installation_secret(settings).auth.jwt_secret == first.auth.jwt_secret
    assert installation_secret(tmp_path / "d" / SECRET_FILE) == first.auth.jwt_secret
    assert any(
        "JWT_SECRET" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
    )
    # Leftover drafts are never left behind.
    assert [p.name for p in (tmp_path / "d").iterdir()] == [SECRET_FILE]


def test_an_explicit_secret_is_kept_as_given(tmp_path: Path) -> None:
    settings = make_settings("postgresql://x/y", env="dev", data_dir=str(tmp_path))
    assert with_installation_secret(settings) is settings
    assert not (tmp_path / SECRET_FILE).exists()
