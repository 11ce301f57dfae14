"""A private PostgreSQL for development (``make run`` with no ``DATABASE_URL``).

The ``pgserver`` package ships real PostgreSQL binaries in a wheel; the data lives under
``<DATA_DIR>/pg`` (git-ignored) and survives restarts; the server stops when the process
exits. Never used in ``ENV=prod``.
"""

from __future__ import annotations

from pathlib import Path


def start_embedded_postgres(data_dir: str) -> str:
    """Start (or reuse) the embedded server and return a libpq URL to it.

    :raises RuntimeError: if ``pgserver`` (a dev extra) is not installed.
    """
    try:
        import pgserver  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "DATABASE_URL is unset and the embedded PostgreSQL (pip install -e '.[dev]') "
            "is not installed"
        ) from None
    path = Path(data_dir, "pg").resolve()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode="stop")  # type: ignore[attr-defined,unused-ignore]
    uri: str = server.get_uri()
    return uri
