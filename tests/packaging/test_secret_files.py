"""``NAME_FILE`` settings: compose secrets reach the service without environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.settings import ConfigError, load_settings

SECRET = "s" * 48


def _secret(tmp_path: Path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value, encoding="utf-8")
    return str(path)


def test_secrets_are_read_from_files(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "ENV": "prod",
            "JWT_SECRET_FILE": _secret(tmp_path, "jwt", SECRET + "\n"),
            "DATABASE_URL_FILE": _secret(
                tmp_path, "db", "postgresql://signage_node:pw@postgres:5432/signage\n"
            ),
            "REDIS_URL_FILE": _secret(tmp_path, "redis", "redis://redis:6379/0"),
        },
        dotenv=None,
    )
    assert settings.auth.jwt_secret == SECRET
    assert settings.database.url == "postgresql://signage_node:pw@postgres:5432/signage"
    assert settings.relay.url == "redis://redis:6379/0"


def test_a_value_and_its_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^JWT_SECRET and JWT_SECRET_FILE: set one"):
        load_settings(
            {"JWT_SECRET": SECRET, "JWT_SECRET_FILE": _secret(tmp_path, "jwt", SECRET)},
            dotenv=None,
        )


def test_a_missing_file_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^JWT_SECRET_FILE: cannot read .*nope \(No such file"):
        load_settings({"JWT_SECRET_FILE": str(tmp_path / "nope")}, dotenv=None)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_URL_FILE: .* is empty"):
        load_settings({"DATABASE_URL_FILE": _secret(tmp_path, "db", "\n")}, dotenv=None)


def test_a_bad_value_in_a_file_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DB_POOL_MAX_FILE": _secret(tmp_path, "n", "hunter2")}, dotenv=None)
    assert "hunter2" not in str(caught.value)
    assert str(caught.value).startswith("DB_POOL_MAX: invalid value in DB_POOL_MAX_FILE")
