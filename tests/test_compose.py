"""compose.yaml (and its TLS override) parse and hold what operators are promised.

No Docker engine runs here, so these read the files: a database, a relay with a
healthcheck, a one-shot migration as the schema owner, two nodes as ``signage_node`` with
``*_FILE`` secrets, and nginx that waits for healthy nodes and serves the media volume.
The proxy configuration itself is checked (and run) by tests/packaging/test_nginx.py.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging import nginx_conf

REPO = Path(__file__).resolve().parent.parent
NODES = ("node1", "node2")


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("compose.yaml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def test_compose_names_database_relay_migration_two_nodes_and_proxy(
    services: dict[str, Any],
) -> None:
    assert {"postgres", "redis", "migrate", "node1", "node2", "proxy"} <= services.keys()


def test_nodes_share_one_database_and_one_relay_with_distinct_ids(
    services: dict[str, Any],
) -> None:
    nodes = [services[n]["environment"] for n in NODES]
    assert nodes[0]["DATABASE_URL_FILE"] == nodes[1]["DATABASE_URL_FILE"]
    assert nodes[0]["REDIS_URL"] == nodes[1]["REDIS_URL"]
    assert nodes[0]["NODE_ID"] != nodes[1]["NODE_ID"]
    assert all(env["ENV"] == "prod" for env in nodes)


def test_secrets_come_from_files_never_from_the_environment(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    declared = compose["secrets"]
    for name in ("migrate", *NODES):
        env = services[name]["environment"]
        assert "JWT_SECRET" not in env
        assert "DATABASE_URL" not in env
        for key, value in env.items():
            if key.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert secret in services[name]["secrets"], (name, key)
                assert secret in declared
    assert services["postgres"]["environment"] == {
        "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"
    }
    # Nothing that looks like a password inline anywhere.
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    assert not re.search(r"postgresql://[^\s:]+:[^\s@$]+@", text)


def test_migrations_run_as_the_owner_and_nodes_as_the_node_role(
    services: dict[str, Any], tmp_path: Path
) -> None:
    # deploy/make-secrets.sh writes every file compose declares, with matching URLs.
    subprocess.run(
        ["sh", str(REPO / "deploy" / "make-secrets.sh"), str(tmp_path / "s")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    folder = tmp_path / "s"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    owner_url = (folder / "owner_database_url").read_text().strip()
    node_url = (folder / "node_database_url").read_text().strip()
    owner_pw = (folder / "signage_owner_password").read_text().strip()
    node_pw = (folder / "signage_node_password").read_text().strip()
    assert owner_url == f"postgresql://signage_owner:{owner_pw}@postgres:5432/signage"
    assert node_url == f"postgresql://signage_node:{node_pw}@postgres:5432/signage"
    assert len((folder / "jwt_secret").read_text().strip().encode()) >= 32
    compose = _load("compose.yaml")
    for secret in compose["secrets"].values():
        assert (folder / Path(secret["file"]).name).is_file(), secret
    migrate = services["migrate"]
    assert migrate["command"] == ["signage", "migrate"]
    assert migrate["environment"]["DATABASE_URL_FILE"] == "/run/secrets/owner_database_url"
    for node in NODES:
        env = services[node]["environment"]
        assert env["DATABASE_URL_FILE"] == "/run/secrets/node_database_url"
    # Kept on a second run: secrets are never rotated by accident.
    subprocess.run(["sh", str(REPO / "deploy" / "make-secrets.sh"), str(folder)], check=True)
    assert (folder / "node_database_url").read_text().strip() == node_url


def test_postgres_initialises_the_roles_on_first_start(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    mounts = dict(v.split(":")[:2] for v in postgres["volumes"] if v.startswith("./"))
    assert mounts["./deploy/postgres/initdb"] == "/docker-entrypoint-initdb.d"
    script = REPO / "deploy/postgres/initdb/10-signage-roles.sh"
    assert os.access(script, os.X_OK)
    body = script.read_text(encoding="utf-8")
    for secret in ("signage_owner_password", "signage_node_password"):
        assert f"/run/secrets/{secret}" in body
        assert secret in postgres["secrets"]
    assert "/opt/signage-db/roles.sql" in body
    assert mounts["./deploy/postgres"] == "/opt/signage-db"
    assert "-h 127.0.0.1" in " ".join(postgres["healthcheck"]["test"])


def test_startup_order_waits_for_health(services: dict[str, Any]) -> None:
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for node in NODES:
        depends = services[node]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert "/ready" in " ".join(services[node]["healthcheck"]["test"])
    proxy_depends = services["proxy"]["depends_on"]
    assert {n: proxy_depends[n]["condition"] for n in NODES} == dict.fromkeys(
        NODES, "service_healthy"
    )


def test_stop_grace_covers_the_drain(services: dict[str, Any]) -> None:
    for node in NODES:
        grace = float(services[node]["environment"]["SHUTDOWN_GRACE_S"])
        assert float(services[node]["stop_grace_period"].removesuffix("s")) > grace


def test_every_image_is_pinned_to_a_release(services: dict[str, Any]) -> None:
    version = re.search(
        r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE
    )
    assert version is not None
    for name, service in services.items():
        image = service["image"]
        repo, _, tag = image.partition(":")
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?(-[a-z0-9]+)?", tag), (name, image)
        if repo == "signage":
            assert tag == version.group(1)
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=python:(\S+)$", dockerfile, re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"3\.12\.\d+-slim-\w+", base.group(1))


def test_nginx_serves_the_media_volume_nodes_write(services: dict[str, Any]) -> None:
    proxy = services["proxy"]
    assert "media:/var/lib/signage/media:ro" in proxy["volumes"]
    for node in NODES:
        assert services[node]["environment"]["MEDIA_ROOT"] == "/var/lib/signage/media"
        assert "media:/var/lib/signage/media" in services[node]["volumes"]
        assert "/media" in services[node]["environment"]["MEDIA_BASE_URL"]
    # nginx runs as the image's signage group, which owns the media files (0640).
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    gid = re.search(r"groupadd --system --gid (\d+) signage", dockerfile)
    assert gid is not None
    assert proxy["user"].split(":")[1] == gid.group(1)
    conf = proxy["command"][proxy["command"].index("-c") + 1]
    assert conf.startswith("/etc/nginx/signage/")
    assert (REPO / "deploy" / "nginx" / conf.rsplit("/", 1)[1]).is_file()
    assert "./deploy/nginx:/etc/nginx/signage:ro" in proxy["volumes"]


def test_the_tls_override_runs_the_tls_config_with_its_secrets() -> None:
    tls = _load("compose.tls.yaml")
    proxy = tls["services"]["proxy"]
    assert "/etc/nginx/signage/nginx-tls.conf" in proxy["command"]
    assert "8443:8443" in proxy["ports"]
    assert set(proxy["secrets"]) == {"tls_cert", "tls_key"} == tls["secrets"].keys()
    (_, server) = nginx_conf.servers(nginx_conf.load(REPO / "deploy/nginx/nginx-tls.conf"))
    assert server.find("ssl_certificate")[0].args == ["/run/secrets/tls_cert"]
    assert server.find("ssl_certificate_key")[0].args == ["/run/secrets/tls_key"]


def test_the_image_installs_the_built_wheel_from_the_lock() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes --no-deps -r /tmp/runtime.txt" in dockerfile
    assert "pip install --require-hashes --no-deps -r requirements/build.txt" in dockerfile
    assert "pip wheel --no-deps --no-build-isolation --no-index" in dockerfile
    assert "signage-*.whl" in dockerfile
    assert not re.search(r"pip install[^\n]* -e\b", dockerfile)
    assert re.search(r"^USER signage$", dockerfile, re.MULTILINE)
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            source = line.split()[1]
            assert (REPO / source).exists(), line
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "secrets", ".env"} <= set(ignored)
