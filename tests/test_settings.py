"""Settings: each bad value names its variable in one line; accepted URL dialects."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.settings import (
    DEV_JWT_SECRET,
    ConfigError,
    Settings,
    Variable,
    load_settings,
    variables,
)

PG = "postgresql://u:pw@db.example/signage"


def test_sqlalchemy_style_asyncpg_url_is_accepted_and_normalised() -> None:
    s = load_settings({"DATABASE_URL": "postgresql+asyncpg://u:pw@db/signage"}, dotenv=None)
    assert s.database.url == "postgresql://u:pw@db/signage"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@pg1:5432,pg2:5433/signage?target_session_attrs=read-write",
        "postgresql://pg1,pg2/signage?connect_timeout=3&target_session_attrs=primary",
        "postgresql:///signage?host=pg1,pg2&target_session_attrs=read-write",
    ],
)
def test_multi_host_url_that_only_connects_to_a_writable_server_is_accepted(url: str) -> None:
    assert load_settings({"DATABASE_URL": url}, dotenv=None).database.url == url


def test_postgres_scheme_alias_is_accepted() -> None:
    s = load_settings({"DATABASE_URL": "postgres://u@db/signage"}, dotenv=None)
    assert s.database.url == "postgresql://u@db/signage"


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://a:5432,b:5432/signage"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql:///signage?host=a,b"}, "DATABASE_URL"),
        (
            {"DATABASE_URL": "postgresql://a,b/signage?target_session_attrs=prefer-standby"},
            "DATABASE_URL",
        ),
        ({"REDIS_URL": "http://cache"}, "REDIS_URL"),
        ({"REDIS_CLUSTER": "true"}, "REDIS_CLUSTER"),
        ({"REDIS_CLUSTER": "true", "REDIS_URL": "unix:///run/redis.sock"}, "REDIS_CLUSTER"),
        ({"ENV": "staging"}, "ENV"),
        ({"JWT_ALGO": "none"}, "JWT_ALGO"),
        ({"DB_POOL_MAX": "many"}, "DB_POOL_MAX"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MIN"),
        ({"ENV": "prod", "DATABASE_URL": PG, "JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"ENV": "prod", "DATABASE_URL": PG}, "JWT_SECRET"),
        ({"ENV": "prod", "DATABASE_URL": PG, "JWT_SECRET": DEV_JWT_SECRET}, "JWT_SECRET"),
        ({"ENV": "prod", "JWT_SECRET": "k" * 32}, "DATABASE_URL"),
        ({"DB_POOL_MIN": "0"}, "DB_POOL_MIN"),
        ({"REFRESH_REUSE_GRACE_S": "61"}, "REFRESH_REUSE_GRACE_S"),
        ({"MFA_ISSUER": "a:b"}, "MFA_ISSUER"),
        ({"RELAY_CHANNEL_PREFIX": "has space"}, "RELAY_CHANNEL_PREFIX"),
        ({"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,nowhere"}, "WEBHOOK_ALLOWED_NETWORKS"),
        (
            {"ENV": "prod", "DATABASE_URL": PG, "JWT_SECRET": "k" * 40, "JWT_ALGO": "HS512"},
            "JWT_SECRET",
        ),
    ],
)
def test_bad_value_fails_with_one_line_naming_the_variable(
    environ: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ, dotenv=None)
    message = str(info.value)
    assert message.startswith(names)
    assert "\n" not in message


def test_prod_accepts_a_strong_secret() -> None:
    s = load_settings({"ENV": "prod", "DATABASE_URL": PG, "JWT_SECRET": "k" * 32}, dotenv=None)
    assert s.is_prod


def test_environment_overrides_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nJWT_ALGO="HS512"\nDB_POOL_MAX=9\n', encoding="utf-8")
    s = load_settings({"DB_POOL_MAX": "4"}, dotenv=dotenv)
    assert (s.auth.jwt_algo, s.database.pool_max) == ("HS512", 4)


def test_malformed_dotenv_line_is_named(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("JWT_ALGO=HS256\nthis is not a setting\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.env:2"):
        load_settings({}, dotenv=dotenv)


def test_repr_never_shows_secrets() -> None:
    s = load_settings({"DATABASE_URL": PG, "JWT_SECRET": "s3cr3t" * 6}, dotenv=None)
    text = repr(s)
    assert "s3cr3t" not in text
    assert ":pw@" not in text
    assert "db.example" in text


@pytest.mark.parametrize(
    "variable",
    [v for v in variables() if type(v.default) in (int, float) or v.name == "RELAY_SHARDED"],
    ids=lambda v: v.name,
)
def test_each_variable_sets_its_own_field(variable: Variable) -> None:
    default = variable.default
    if isinstance(default, bool):
        value: object = True
    elif isinstance(default, float):
        value = default / 2 or 1.0  # inside every range, and not the default
    else:
        assert isinstance(default, int)
        value = default + 1
    s = load_settings({variable.name: str(value)}, dotenv=None)
    section = getattr(s, variable.section) if variable.section else s
    assert getattr(section, variable.field) == value


def test_settings_built_in_code_are_checked_like_the_environment() -> None:
    s = Settings.of(ws_max_sessions=5, manifest_tick_s=1)
    assert (s.admission.max_sessions, s.manifests.tick_s) == (5, 1.0)
    assert s.updated(db_pool_max=7).database.pool_max == 7
    assert s.updated(db_pool_max=7).admission.max_sessions == 5
    with pytest.raises(ConfigError, match=r"^WS_MAX_OPENING: invalid value 0"):
        s.updated(ws_max_opening=0)
    with pytest.raises(ConfigError, match=r"^WS_MAX_SESSION: not a setting"):
        Settings.of(ws_max_session=5)
