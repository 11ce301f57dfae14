"""Where settings come from and the URL dialects they accept: ``.env`` files, ``NAME_FILE``
secrets, PostgreSQL and Redis URLs, and the one error every bad value becomes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit


class ConfigError(Exception):
    """A missing or malformed setting. ``str(err)`` is one line that names the variable."""


def redact_url(value: object) -> object:
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
    return value


def normalize_database_url(raw: str) -> str:
    """Return a libpq URL for ``raw``; accepts SQLAlchemy-style ``postgresql+driver://``.

    :raises ConfigError: if the scheme is not PostgreSQL's or no database is named.
    """
    parts = urlsplit(raw)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"DATABASE_URL: expected a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ConfigError("DATABASE_URL: no database name in the URL")
    _check_multi_host(parts.netloc, parts.query)
    # Not urlunsplit: it drops the empty authority of ``postgresql:///db?host=...`` (a
    # scheme it does not know), which libpq would no longer read as a URL.
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"postgresql://{parts.netloc}{parts.path}{query}{fragment}"


#: The libpq ``target_session_attrs`` values that only ever connect to a writable server.
_WRITABLE_SESSION_ATTRS = frozenset({"read-write", "primary"})


def _check_multi_host(netloc: str, query: str) -> None:
    """A URL naming several servers (``h1:5432,h2:5432`` or ``?host=h1,h2``) must say
    ``target_session_attrs=read-write`` (or ``primary``): libpq's default, ``any``, would
    hand the pool a connection to a standby, on which every write fails."""
    hosts = netloc.rpartition("@")[2]
    params = parse_qs(query)
    named = [hosts, *params.get("host", []), *params.get("hostaddr", [])]
    if not any("," in h for h in named):
        return
    attrs = params.get("target_session_attrs", ["any"])[-1]
    if attrs not in _WRITABLE_SESSION_ATTRS:
        raise ConfigError(
            "DATABASE_URL: several hosts need target_session_attrs=read-write"
            f" (got {attrs!r}): another value may connect to a standby"
        )


def check_redis_url(raw: str) -> str:
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: expected a redis://, rediss:// or unix:// URL")
    return raw


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines (``#`` comments, optional quotes). Missing file: empty."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def read_value_file(variable: str, path: str) -> str:
    """The value a ``*_FILE`` variable points at, without its trailing newline.

    :raises ConfigError: if the file cannot be read or holds nothing.
    """
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"{variable}: cannot read {path} ({reason})") from None
    if not value:
        raise ConfigError(f"{variable}: {path} is empty")
    return value
