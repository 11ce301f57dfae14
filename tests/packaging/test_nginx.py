"""The shipped reverse proxy (deploy/nginx/) hides the operators' endpoints (finding L1).

``location = /metrics`` blocked only the exact path: ``/metrics/`` and ``/metrics%2F``
reached the metrics. Two checks:

- statically, with a model of nginx's location matching (``tests/packaging/nginx_conf.py``),
  on every shipped server block (plain HTTP and TLS);
- for real, where nginx is installed (Debian's ``nginx-light``; ``.ci/run`` installs it and
  sets ``SIGNAGE_REQUIRE_NGINX=1`` so CI never skips): the shipped configuration, with only
  the upstream addresses, the listening port and the paths moved into a temporary folder,
  in front of a real ``signage serve``, probed with raw request lines.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.packaging import nginx_conf
from tests.servers import REPO, free_port, running_server
from tests.waiting import eventually_sync

DEPLOY = REPO / "deploy" / "nginx"
MAIN_FILES = ("nginx.conf", "nginx-tls.conf")

REFUSED = [
    "/metrics",
    "/metrics/",
    "/metrics%2F",
    "/metrics%2f",
    "/metrics?format=text",
    "//metrics",
    "/./metrics",
    "/api/../metrics",
    "/%6detrics",
    "/metrics.txt",
    "/api/v1/ops",
    "/api/v1/ops/",
    "/api/v1/ops/nodes",
    "/api/v1/ops%2Fnodes",
    "/api/v1//ops/nodes",
    "/api/v1/./ops/actors",
    "/api/v1/tenants/../ops/nodes",
    "/Metrics",
    "/internal",
    "/media/",
    "/media/../metrics",
]
FORWARDED = [
    "/health",
    "/ready",
    "/openapi.json",
    "/docs",
    "/docs/static/swagger-ui.css",
    "/player",
    "/player/player.js",
    "/console",
    "/console/console.css",
    "/api/v1/tenants",
    "/api/v1/devices/ws",
    "/api/v1/auth/login",
]
TENANT = "3f1c2a7e-5b4d-4c3a-9e8f-0a1b2c3d4e5f"
DIGEST = "ab" * 32


def _public_servers(main: str) -> list[nginx_conf.Directive]:
    """The server blocks that serve the API (the TLS file's :8080 only redirects)."""
    found = [
        s
        for s in nginx_conf.servers(nginx_conf.load(DEPLOY / main))
        if any(loc.args[-1] == "/api/v1/" for loc in s.find("location"))
    ]
    assert found
    return found


@pytest.mark.parametrize("main", MAIN_FILES)
@pytest.mark.parametrize("uri", REFUSED)
def test_operators_endpoints_are_refused_whatever_the_spelling(main: str, uri: str) -> None:
    for server in _public_servers(main):
        location = nginx_conf.route(server, uri)
        assert nginx_conf.is_refused(location), (uri, location.args)


@pytest.mark.parametrize("main", MAIN_FILES)
@pytest.mark.parametrize("uri", FORWARDED)
def test_the_public_contract_is_forwarded(main: str, uri: str) -> None:
    for server in _public_servers(main):
        assert nginx_conf.is_proxied(nginx_conf.route(server, uri)), uri


@pytest.mark.parametrize("main", MAIN_FILES)
def test_media_names_are_served_from_the_volume_and_nothing_else(main: str) -> None:
    for server in _public_servers(main):
        media = nginx_conf.route(server, f"/media/{TENANT}/{DIGEST}")
        (alias,) = media.find("alias")
        assert alias.args == ["/var/lib/signage/media/$media_tenant/$media_digest"]
        headers = {tuple(d.args[:2]) for d in media.find("add_header")}
        assert ("X-Content-Type-Options", "nosniff") in headers
        for uri in (
            f"/media/{TENANT}/",
            f"/media/{TENANT}/.incoming/x.part",
            f"/media/{TENANT}/{DIGEST}.html",
            f"/media/{TENANT.upper()}/{DIGEST}",
        ):
            assert nginx_conf.is_refused(nginx_conf.route(server, uri)), uri


def test_the_tls_example_redirects_plain_http_and_sends_hsts() -> None:
    config = nginx_conf.load(DEPLOY / "nginx-tls.conf")
    plain, tls = nginx_conf.servers(config)
    assert plain.find("listen")[0].args == ["8080"]
    assert nginx_conf.route(plain, "/api/v1/tenants").find("return")[0].args[0] == "308"
    assert tls.find("listen")[0].args[:2] == ["8443", "ssl"]
    assert {d.args[0] for d in tls.find("ssl_protocols")} == {"TLSv1.2"}
    assert any(d.args[0] == "Strict-Transport-Security" for d in tls.find("add_header"))


# -- the real nginx -------------------------------------------------------------------------


@dataclass
class Proxy:
    port: int
    folder: Path

    def get(self, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest("GET", raw_path, skip_accept_encoding=True)
            conn.endheaders()
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


def _nginx() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        if os.environ.get("SIGNAGE_REQUIRE_NGINX") == "1":
            pytest.fail("nginx is required here (SIGNAGE_REQUIRE_NGINX=1) but not installed")
        pytest.skip("nginx not installed (apt-get install nginx-light); static checks ran")
    return found


def _localize(folder: Path, upstream_port: int, listen_port: int, tls_port: int) -> None:
    """Copy deploy/nginx/ into ``folder`` with every address and path moved there."""
    for src in DEPLOY.iterdir():
        text = src.read_text(encoding="utf-8")
        text = re.sub(r"server node1:8000[^;]*;", f"server 127.0.0.1:{upstream_port};", text)
        text = re.sub(r"\s*server node2:8000[^;]*;", "", text)
        text = text.replace("resolver 127.0.0.11 valid=10s ipv6=off;", "")
        text = text.replace("listen 8080;", f"listen 127.0.0.1:{listen_port};")
        text = text.replace("listen 8443 ssl", f"listen 127.0.0.1:{tls_port} ssl")
        text = text.replace("/tmp/", f"{folder}/tmp-")  # noqa: S108 - rewriting the config
        text = text.replace("/var/lib/signage/media/", f"{folder}/media/")
        text = text.replace("/run/secrets/", f"{folder}/secrets/")
        text = text.replace("access_log /dev/stdout", f"access_log {folder}/access.log")
        (folder / src.name).write_text(text, encoding="utf-8")


def _self_signed(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    secrets = folder / "secrets"
    secrets.mkdir()
    (secrets / "tls_cert").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (secrets / "tls_key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited {process.returncode}: {log.read_text()}")
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            probe.connect()
        except OSError:
            return False
        finally:
            probe.close()
        return True

    eventually_sync(
        listening,
        timeout_s=10,
        failure=lambda: f"nginx not listening on {port}: {log.read_text()}",
    )


@pytest.fixture
def proxy_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "nginx"
    folder.mkdir()
    (folder / "media" / TENANT).mkdir(parents=True)
    (folder / "media" / TENANT / DIGEST).write_bytes(b"\x89PNG\r\n\x1a\n-media-bytes")
    (folder / "media" / TENANT / ".incoming").mkdir()
    (folder / "media" / TENANT / ".incoming" / "x.part").write_bytes(b"partial")
    _self_signed(folder)
    return folder


@pytest.fixture
def proxy(database_url: str, proxy_folder: Path, tmp_path: Path) -> Iterator[tuple[Proxy, str]]:
    """nginx (the shipped nginx.conf) in front of a real node; yields it and the node's URL."""
    nginx = _nginx()
    with running_server(tmp_path, {"DATABASE_URL": database_url}, node_id="behind-nginx") as node:
        port = free_port()
        _localize(proxy_folder, node.port, port, free_port())
        log = proxy_folder / "error.log"
        # As root, workers would run as nobody, who cannot enter pytest's private folders.
        user = ["-g", "daemon off; user root;" if os.geteuid() == 0 else "daemon off;"]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [nginx, "-p", str(proxy_folder), "-c", str(proxy_folder / "nginx.conf"), *user],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_listening(port, process, log)
            yield Proxy(port, proxy_folder), node.base_url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.mark.slow
def test_real_nginx_refuses_metrics_and_ops_however_spelled(proxy: tuple[Proxy, str]) -> None:
    nginx, node_url = proxy
    # The node itself serves metrics (even at /metrics/): only the proxy stands in the way.
    direct = Proxy(int(node_url.rsplit(":", 1)[1]), nginx.folder)
    status, _, body = direct.get("/metrics")
    assert status == 200
    assert b"signage_" in body
    for uri in REFUSED:
        status, _, body = nginx.get(uri)
        assert status in (400, 404), (uri, status)
        assert b"signage_" not in body, uri
    for uri in ("/health", "/ready", "/openapi.json"):
        status, headers, _ = nginx.get(uri)
        assert status == 200, uri
        assert "nginx/" not in headers.get("Server", ""), "server_tokens off"


@pytest.mark.slow
def test_real_nginx_serves_media_from_the_volume_only(proxy: tuple[Proxy, str]) -> None:
    nginx, _ = proxy
    status, headers, body = nginx.get(f"/media/{TENANT}/{DIGEST}")
    assert status == 200
    assert body == b"\x89PNG\r\n\x1a\n-media-bytes"
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    for uri in (
        f"/media/{TENANT}/",
        f"/media/{TENANT}/.incoming/x.part",
        f"/media/{TENANT}/%2e%2e/{TENANT}/{DIGEST}x",
        f"/media/{uuid.uuid4()}/{DIGEST}",
    ):
        status, _, body = nginx.get(uri)
        assert status == 404, uri
        assert b"partial" not in body


def test_real_nginx_accepts_the_tls_example(proxy_folder: Path) -> None:
    nginx = _nginx()
    _localize(proxy_folder, free_port(), free_port(), free_port())
    done = subprocess.run(
        [nginx, "-t", "-p", str(proxy_folder), "-c", str(proxy_folder / "nginx-tls.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
