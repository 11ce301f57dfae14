"""Empty databases on the test server, for tests that migrate from nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tests.conftest import ADMIN_URL, _with_database


@contextmanager
def empty_database(prefix: str = "signage_pkg") -> Iterator[str]:
    """A new, empty database (its URL, as the test server's admin), dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
