"""The URL helpers the fault-proxy tests use read multi-host URLs too."""

from __future__ import annotations

from tests.pgurl import as_user, first_server, through

MULTI = "postgresql://u:pw@pg1:5433,pg2:5434/signage?target_session_attrs=read-write"


def test_the_first_server_of_a_multi_host_url() -> None:
    assert first_server(MULTI) == ("pg1", 5433)
    assert first_server("postgresql://u@db/x") == ("db", 5432)
    assert first_server("postgresql:///x?host=a,b&port=1,2") == ("a", 1)


def test_through_names_only_the_proxy_and_keeps_the_rest() -> None:
    assert through(MULTI, 7000) == (
        "postgresql://u:pw@127.0.0.1:7000/signage?target_session_attrs=read-write"
    )
    assert through("postgresql:///x?host=a,b&port=1,2&sslmode=disable", 7000) == (
        "postgresql://127.0.0.1:7000/x?sslmode=disable"
    )


def test_as_user_replaces_the_user_and_drops_the_password() -> None:
    assert as_user(MULTI, "signage_node").startswith("postgresql://signage_node@pg1:5433,pg2")
