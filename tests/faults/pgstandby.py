"""A private PostgreSQL primary and a synchronous streaming standby for failover tests,
made from the PostgreSQL binaries on the machine (``pg_config --bindir``): ``initdb`` a
primary on a free loopback port, ``pg_basebackup -R`` a standby from it, replication
synchronous (the primary's ``synchronous_standby_names`` names the standby's
``cluster_name``, ``synchronous_commit=on``), so that every commit the primary
acknowledges is already flushed on the standby.

PostgreSQL refuses to run as root: when the tests do, the servers run as the ``postgres``
system user, in a temp dir that user owns. Tests stop the primary by its postmaster pid
(SIGQUIT: ``pg_ctl stop -m immediate``) and promote the standby (``pg_ctl promote``); the
machine's own PostgreSQL is never touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.servers import free_port
from tests.waiting import eventually_sync

HOST = "127.0.0.1"
DATABASE = "signage"
STANDBY_NAME = "signage_standby"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def bindir() -> Path:
    """The folder of the PostgreSQL server binaries (``pg_config --bindir``)."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:  # pragma: no cover - the CI image has it
        raise RuntimeError("pg_config is not installed")
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def _server_user() -> str | None:
    """The user the servers run as: ``postgres`` when the tests run as root, else us."""
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class PgServer:
    """One PostgreSQL data directory and the postmaster serving it."""

    name: str
    data: Path
    port: int
    bindir: Path
    user: str | None

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{database}"

    def run(self, tool: str, *args: str, timeout: float = START_TIMEOUT_S) -> None:
        done = subprocess.run(
            [str(self.bindir / tool), *args],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.returncode}\n{done.stderr}")

    def start(self, *options: str) -> None:
        """``pg_ctl start -w`` with ``options`` given as ``-c name=value`` settings."""
        flags = " ".join(f"-c {option}" for option in options)
        log = self.data.parent / f"{self.name}.log"
        self.run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(log), "-o", flags)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (first line of ``postmaster.pid``), None when not running."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def kill_immediately(self) -> None:
        """``pg_ctl stop -m immediate`` by pid: SIGQUIT to the postmaster, which ends every
        backend without a checkpoint; returns once the postmaster is gone."""
        pid = self.pid
        assert pid is not None, f"{self.name} is not running"
        os.kill(pid, signal.SIGQUIT)
        eventually_sync(
            lambda: not _alive(pid),
            timeout_s=STOP_TIMEOUT_S,
            every_s=0.02,
            failure=lambda: f"{self.name} (pid {pid}) did not stop",
        )

    def stop(self) -> None:
        """Fast shutdown if it is still running (test teardown)."""
        pid = self.pid
        if pid is not None and _alive(pid):
            self.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def promote(self) -> None:
        """``pg_ctl promote -w``: returns once the standby accepts writes."""
        self.run("pg_ctl", "promote", "-w", "-D", str(self.data))

    def query(
        self, sql: str, params: tuple[object, ...] = (), *, database: str = DATABASE
    ) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie postmaster (ours is not our child: pg_ctl started it) is reaped by init.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class PrimaryAndStandby:
    primary: PgServer
    standby: PgServer

    @property
    def url(self) -> str:
        """The multi-host URL the nodes get: both servers, writable one only."""
        return (
            f"postgresql://postgres@{HOST}:{self.primary.port},{HOST}:{self.standby.port}"
            f"/{DATABASE}?target_session_attrs=read-write"
        )

    def wait_synchronous(self) -> None:
        """Until the primary reports the standby as its synchronous standby, streaming."""
        seen: list[object] = []

        def synchronous() -> bool:
            rows = self.primary.query(
                "SELECT sync_state, state FROM pg_stat_replication WHERE application_name = %s",
                (STANDBY_NAME,),
                database="postgres",
            )
            seen[:] = [rows]
            return rows == [("sync", "streaming")]

        eventually_sync(
            synchronous,
            timeout_s=START_TIMEOUT_S,
            failure=lambda: f"the standby never became synchronous: {seen}",
        )


@contextmanager
def primary_and_standby() -> Iterator[PrimaryAndStandby]:
    """A primary with database ``signage`` and its synchronous standby, both stopped (fast)
    and their folder removed at the end."""
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="signage-pgfail-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    binaries = bindir()
    primary = PgServer("primary", root / "primary", free_port(), binaries, user)
    standby = PgServer("standby", root / "standby", free_port(), binaries, user)
    try:
        primary.run(
            "initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "--no-sync"
        )
        common = (
            f"listen_addresses='{HOST}'",
            f"unix_socket_directories='{root}'",
            "wal_level=replica",
            "max_wal_senders=4",
            "hot_standby=on",
            "fsync=off",  # a test server: durability across an OS crash is not tested
            "synchronous_commit=on",
        )
        primary.start(f"port={primary.port}", *common)
        primary.query(f"CREATE DATABASE {DATABASE}", database="postgres")
        primary.run(
            "pg_basebackup",
            "-h",
            HOST,
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(standby.data),
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",  # a spread checkpoint would take minutes
        )
        standby.start(f"port={standby.port}", *common, f"cluster_name='{STANDBY_NAME}'")
        # Only now, and only in the primary's own files: earlier, every commit (CREATE
        # DATABASE, the base backup's checkpoint) would wait for a standby not yet there,
        # and in the copy the standby would, once promoted, wait for a standby of its own.
        primary.query(
            f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'", database="postgres"
        )
        primary.query("SELECT pg_reload_conf()", database="postgres")
        pair = PrimaryAndStandby(primary, standby)
        pair.wait_synchronous()
        yield pair
    finally:
        for server in (standby, primary):
            try:
                server.stop()
            except (RuntimeError, subprocess.TimeoutExpired):
                pid = server.pid
                if pid is not None and _alive(pid):
                    os.kill(pid, signal.SIGQUIT)
        shutil.rmtree(root, ignore_errors=True)
