"""Real ``signage serve`` processes for black-box and multi-node tests."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from actors.domain.principal import AuditActor
from edge.admin_cli import _services
from store.migrations import migrate
from tests.conftest import make_settings
from tests.waiting import eventually_sync

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def quiet_screen(port: int, secret: str, timeout_s: float = 10.0) -> socket.socket:
    """A screen that upgrades its WebSocket and then reads nothing — neither frames nor the
    close (a player gone quiet). A small receive buffer makes the server's side fill fast;
    only the response head is consumed, byte by byte."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(timeout_s)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /api/v1/devices/ws HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {secret}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def create_admin(database_url: str, email: str, password: str) -> None:
    """A platform admin in ``database_url`` (migrated first), as ``signage create-admin``
    makes it with the test nodes' argon2 cost, but in this process: a ``create-admin``
    subprocess per fixture cost 1-3 s of imports. The command itself is tested in
    ``tests/auth/test_cli.py``. Runs on a thread of its own, so that it may be called
    from a sync fixture or an async test alike."""
    settings = make_settings(database_url, password_memory_kib=1024, password_time_cost=1)

    async def provision() -> None:
        await migrate(database_url)
        async with _services(settings, database_url) as (users, _):
            await users.provision(email, password, actor=AuditActor.system("create-admin"))

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, provision()).result(timeout=60)


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_healthy(server: Server) -> None:
    def healthy() -> bool:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/health", timeout=1) as r:  # noqa: S310
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    eventually_sync(
        healthy,
        timeout_s=START_TIMEOUT_S,
        failure=lambda: f"server not healthy within {START_TIMEOUT_S}s:\n{server.log()}",
    )


@contextmanager
def running_server(
    tmp_path: Path, env: dict[str, str], *, node_id: str = "node", port: int | None = None
) -> Iterator[Server]:
    """Start ``signage serve`` on a free port, wait for /health, stop it with SIGTERM."""
    port = port or free_port()
    log_path = tmp_path / f"{node_id}-{port}.log"
    full_env = {**os.environ, "ENV": "test", "NODE_ID": node_id, **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env={**full_env, "PYTHONPATH": str(REPO)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(port, process, log_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
