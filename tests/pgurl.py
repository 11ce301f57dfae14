"""The test PostgreSQL's URL taken apart and rebuilt, for tests that put a fault proxy in
front of the server or connect as another role. Works for a multi-host URL too
(``postgresql://u@h1:5432,h2:5433/db?target_session_attrs=read-write``), whose ``.port``
``urllib`` cannot read."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict

#: Query parameters that name servers: replaced along with the URL's hosts.
_SERVER_PARAMS = frozenset({"host", "hostaddr", "port"})


def first_server(url: str) -> tuple[str, int]:
    """The host and port of the first server ``url`` names (libpq's defaults if none)."""
    params = conninfo_to_dict(url)
    host = str(params.get("hostaddr") or params.get("host") or "127.0.0.1").split(",")[0]
    port = str(params.get("port") or "5432").split(",")[0]
    return host, int(port or 5432)


def through(url: str, port: int, host: str = "127.0.0.1") -> str:
    """``url`` naming only ``host:port`` (a proxy in front of the first server), with the
    same user, database and other parameters."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in _SERVER_PARAMS])
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{port}", query=query))


def as_user(url: str, user: str) -> str:
    """``url`` with ``user`` (and no password) as who connects."""
    parts = urlsplit(url)
    servers = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{servers}"))
