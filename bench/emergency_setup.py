"""What the emergency benchmark runs against: a fresh database, ``signage serve`` processes,
a private Redis for the multi-node run, and screens registered and claimed **through the
HTTP API** (no SQL seeding), in parallel.

::

    with BenchDatabase() as url, SignageNode(url, env) as node:
        fleet = provision(node.base_url, devices=10_000)   # admin, tenant, operator, screens
        ...

    with ExitStack() as stack:                        # three nodes on one PostgreSQL,
        nodes = signage_nodes(stack, url, 3, env)     # relayed over one private Redis

Everything binds or connects to loopback only and stops what it started: leaving a
``with`` block terminates the process (SIGTERM, then SIGKILL) or drops the database.
The benchmark's server processes run with bench-only limits (registration and claim
rates raised so 10,000 screens can be provisioned in seconds, idle timeout lifted
because load-generator sessions do not send heartbeats); the fan-out path itself runs
with the product's defaults.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psycopg
from psycopg import sql

from actors.domain.device_secret import hash_device_secret, new_device_secret
from bench.loopback import require_loopback
from bench.procstat import rss_kib, stop_process

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
PASSWORD = "bench-password-correct-horse"  # noqa: S105 - a throwaway bench account
#: Parallel HTTP clients provisioning screens (registration, then claim).
PROVISION_THREADS = 16

#: Limits lifted for the benchmark only (see the module docstring).
BENCH_ENV: dict[str, str] = {
    "ENV": "dev",
    "LOG_LEVEL": "WARNING",
    "JWT_SECRET": "bench-only-jwt-secret-" + "x" * 40,
    "PASSWORD_MEMORY_KIB": "1024",
    "PASSWORD_TIME_COST": "1",
    "REGISTRATION_BURST": "1000000",
    "REGISTRATION_PER_S": "1000000",
    "REGISTRATION_MAX_PENDING_PER_SOURCE": "1000000",
    "REGISTRATION_MAX_PENDING": "1000000",
    "WS_CONNECT_BURST": "1000000",
    "WS_CONNECT_PER_S": "1000000",
    "WS_IDLE_TIMEOUT_S": "7200",
    "DB_POOL_MAX": "20",
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class BenchDatabase:
    """A freshly created and migrated database, dropped on exit; ``with`` gives its URL."""

    def __init__(self, admin_url: str = ADMIN_DATABASE_URL) -> None:
        self._admin_url = admin_url
        self.name = f"signage_bench_{secrets.token_hex(4)}"
        self.url = re.sub(r"/[^/?]*(\?|$)", f"/{self.name}\\1", admin_url, count=1)

    def __enter__(self) -> str:
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        subprocess.run(
            [sys.executable, "-m", "edge.cli", "migrate"],
            cwd=REPO,
            env={**os.environ, **BENCH_ENV, "DATABASE_URL": self.url},
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self.url

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


class SignageNode:
    """One ``signage serve`` process on a free loopback port."""

    def __init__(self, database_url: str, env: dict[str, str], node_id: str = "bench") -> None:
        self.port = free_port()
        self.node_id = node_id
        self._env = {
            **os.environ,
            **BENCH_ENV,
            "DATABASE_URL": database_url,
            "NODE_ID": node_id,
            "PYTHONPATH": str(REPO),
            **env,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/api/v1/devices/ws"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("not running")
        return self._process.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def __enter__(self) -> Self:
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "serve", "--host", HOST, "--port", str(self.port)],
            cwd=REPO,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            stop_process(self._process, STOP_TIMEOUT_S)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the node (a shutdown benchmark's SIGTERM)."""
        if self._process is None:
            raise RuntimeError("not running")
        self._process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        """Wait for the node to exit; its exit code.

        :raises subprocess.TimeoutExpired: if it is still running after ``timeout_s``.
        """
        if self._process is None:
            raise RuntimeError("not running")
        return self._process.wait(timeout_s)

    def log_tail(self, size: int = 4000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-size:].decode(errors="replace")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"signage serve exited:\n{self.log_tail()}")
            try:
                status, _ = request("GET", self.base_url, "/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)  # polling a process we just started
        raise TimeoutError(f"signage serve not healthy in {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def metrics(self) -> dict[str, float]:
        """``GET /metrics`` as ``{"name{labels}": value}``."""
        _, body = request("GET", self.base_url, "/metrics")
        found: dict[str, float] = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                found[name] = float(value)
        return found


def signage_nodes(
    stack: ExitStack,
    database_url: str,
    count: int,
    env: Mapping[str, str] | None = None,
    *,
    name: str = "bench",
) -> list[SignageNode]:
    """``count`` running nodes on one database (``NODE_ID`` ``{name}-0`` ...), stopped when
    ``stack`` closes. Several nodes relay over a :class:`PrivateRedis` of their own unless
    ``env`` names a Redis (``REDIS_URL``)."""
    settings = dict(env or {})
    if count > 1 and "REDIS_URL" not in settings:
        redis = stack.enter_context(PrivateRedis())
        settings |= {"REDIS_URL": redis.url, "RELAY_CHANNEL_PREFIX": f"bench{redis.port}"}
    return [
        stack.enter_context(SignageNode(database_url, settings, node_id=f"{name}-{i}"))
        for i in range(count)
    ]


def request(
    method: str,
    base_url: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    """One HTTP request to a loopback server (on ``conn`` if given, kept alive)."""
    host, port = base_url.removeprefix("http://").split(":")
    require_loopback(host)
    own = conn is None
    connection = conn or http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        if own:
            connection.close()


def call(method: str, base_url: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, raw = request(method, base_url, path, body, token)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path}: HTTP {status} {raw[:300]!r}")
    return json.loads(raw) if raw else None


@dataclass(frozen=True, slots=True)
class Fleet:
    """What provisioning made: a tenant, an operator's token, screens' secrets."""

    tenant_id: str
    operator_token: str
    device_ids: tuple[str, ...]
    secrets: tuple[str, ...]


def provision(base_url: str, database_url: str, devices: int, *, via: str = "api") -> Fleet:
    """A platform admin (CLI), a tenant, an emergency operator, and ``devices`` screens:
    registered and claimed through the API with :data:`PROVISION_THREADS` clients
    (``via="api"``), or inserted as approved rows with known secrets in one statement
    (``via="sql"``, bench-only, for quick iterations)."""
    subprocess.run(
        [sys.executable, "-m", "edge.cli", "create-admin", "--email", "root@bench.test"],
        cwd=REPO,
        env={
            **os.environ,
            **BENCH_ENV,
            "DATABASE_URL": database_url,
            "SIGNAGE_ADMIN_PASSWORD": PASSWORD,
        },
        check=True,
        capture_output=True,
        timeout=60,
    )
    admin = _login(base_url, "root@bench.test")
    tenant = call("POST", base_url, "/api/v1/tenants", {"name": "Bench", "slug": "bench"}, admin)
    tenant_id = tenant["id"]
    call(
        "POST",
        base_url,
        f"/api/v1/tenants/{tenant_id}/users",
        {"email": "op@bench.test", "password": PASSWORD, "roles": ["emergency_operator"]},
        admin,
    )
    operator = _login(base_url, "op@bench.test")
    if via == "sql":
        device_ids, device_secrets = _seed(database_url, tenant_id, devices)
        return Fleet(tenant_id, operator, device_ids, device_secrets)
    shares = [range(i, devices, PROVISION_THREADS) for i in range(PROVISION_THREADS)]
    with ThreadPoolExecutor(PROVISION_THREADS) as pool:
        parts = list(pool.map(lambda share: _screens(base_url, tenant_id, admin, share), shares))
    screens = sorted((s for part in parts for s in part), key=lambda s: s[0])
    return Fleet(
        tenant_id=tenant_id,
        operator_token=operator,
        device_ids=tuple(s[1] for s in screens),
        secrets=tuple(s[2] for s in screens),
    )


def _seed(
    database_url: str, tenant_id: str, devices: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Approved devices with fresh secrets, inserted in one statement (bench only)."""
    device_ids = [str(uuid.uuid4()) for _ in range(devices)]
    device_secrets = [new_device_secret() for _ in range(devices)]
    digests = [hash_device_secret(s) for s in device_secrets]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id,"
            " registered_from, name, claimed_at)"
            " SELECT d, %(tenant)s, 'approved', h, 'bench-' || n, 'bench', 'Screen ' || n, now()"
            " FROM unnest(%(ids)s::uuid[], %(hashes)s::bytea[]) WITH ORDINALITY AS v(d, h, n)",
            {"tenant": tenant_id, "ids": device_ids, "hashes": digests},
        )
    return tuple(device_ids), tuple(device_secrets)


def _login(base_url: str, email: str) -> str:
    tokens = call("POST", base_url, "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    token: str = tokens["access_token"]
    return token


def _screens(
    base_url: str, tenant_id: str, admin: str, share: Sequence[int]
) -> list[tuple[int, str, str]]:
    """Register and claim the screens numbered ``share`` over one kept-alive connection."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    made = []
    try:
        for n in share:
            status, raw = request(
                "POST",
                base_url,
                "/api/v1/devices/register",
                {"hardware_id": f"bench-{n}"},
                conn=conn,
            )
            if status != 201:
                raise RuntimeError(f"register: HTTP {status} {raw[:200]!r}")
            registered = json.loads(raw)
            status, raw = request(
                "POST",
                base_url,
                f"/api/v1/tenants/{tenant_id}/devices/claim",
                {"pairing_code": registered["pairing_code"], "name": f"Screen {n}"},
                admin,
                conn=conn,
            )
            if status != 200:
                raise RuntimeError(f"claim: HTTP {status} {raw[:200]!r}")
            made.append((n, registered["device_id"], registered["device_secret"]))
    finally:
        conn.close()
    return made


class PrivateRedis:
    """``redis-server`` on a free loopback port, no persistence (the multi-node run)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def __enter__(self) -> Self:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)  # redis-server listens within milliseconds; nodes retry anyway
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_S)
            self._process = None
        self._dir.cleanup()
