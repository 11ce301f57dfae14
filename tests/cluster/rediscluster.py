"""A real Redis Cluster for the tests: 3 masters and 3 replicas, each a ``redis-server
--cluster-enabled yes`` on a free loopback port (its bus on port + 10000) under a temp
dir, joined with ``redis-cli --cluster create --cluster-replicas 1``; killed by pid.

Tests may kill a master (its replica takes over within a few seconds:
``cluster-node-timeout`` is short) and start it again (it rejoins as a replica), or ask
for a manual ``CLUSTER FAILOVER``. The machine's own Redis is never touched.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.waiting import eventually_sync

HOST = "127.0.0.1"
#: A node's cluster bus listens on its port + this.
BUS_OFFSET = 10000
START_TIMEOUT_S = 20.0
#: Short, so that a killed master's replica takes over in about two seconds.
NODE_TIMEOUT_MS = 1000
FAILOVER_TIMEOUT_S = 20.0


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """``count`` ports P below 65535 - 10000 with P and P + 10000 both free."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 55000)  # a port, not a secret
        if port in ports or port + BUS_OFFSET in ports:
            continue
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            ports.append(port)
    return ports


def command(port: int, *args: str, timeout: float = 2.0) -> str:
    """One command to one node over a fresh connection; the reply as text (arrays: one
    item a line)."""
    client = redis.Redis(
        host=HOST, port=port, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    client.response_callbacks.clear()  # the raw replies, as redis-cli shows them
    try:
        reply = client.execute_command(*args)  # type: ignore[no-untyped-call]
    except redis.ConnectionError as exc:
        raise OSError(str(exc)) from exc
    except redis.RedisError as exc:
        raise RuntimeError(f"redis on {port}: {exc}") from exc
    finally:
        client.close()
    return _text(reply)


def _text(reply: object) -> str:
    if isinstance(reply, bytes):
        return reply.decode()
    if isinstance(reply, list | tuple):
        return "\n".join(_text(item) for item in reply)
    if reply is True:
        return "OK"
    return str(reply)


@dataclass
class ClusterNode:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    id: str = ""

    @property
    def name(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # pragma: no cover - the CI image has it
            raise RuntimeError("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(self.workdir / "nodes.conf"),
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                # Other shards keep serving while one has no master yet.
                "--cluster-require-full-coverage",
                "no",
                "--cluster-replica-validity-factor",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server on {self.port} exited: {self.log()}")
            try:
                return command(self.port, "PING") == "PONG"
            except OSError:
                return False

        eventually_sync(
            answers,
            timeout_s=START_TIMEOUT_S,
            every_s=0.02,
            failure=lambda: f"redis-server on {self.port} did not answer PING",
        )
        self.id = command(self.port, "CLUSTER", "MYID")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        path = self.workdir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@dataclass
class RedisClusterServers:
    """Six nodes, three masters with a replica each (see the module docstring)."""

    workdir: Path
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A seed node's URL, as ``REDIS_URL`` names it (any live node will do)."""
        return f"redis://{HOST}:{self.live_nodes()[0].port}/0"

    def live_nodes(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.alive]

    def start(self, masters: int = 3, replicas: int = 1) -> None:
        ports = cluster_ports(masters * (1 + replicas))
        self.nodes = [ClusterNode(p, self.workdir / str(p)) for p in ports]
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:  # pragma: no cover - the CI image has it
            raise RuntimeError("redis-cli is not installed")
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(n.name for n in self.nodes),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_healthy()

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    # -- topology --------------------------------------------------------------------------

    def slots(self) -> dict[str, list[tuple[int, int]]]:
        """Master ``host:port`` -> its slot ranges, as a live node sees it."""
        for node in self.live_nodes():
            try:
                listing = command(node.port, "CLUSTER", "NODES")
            except (OSError, RuntimeError):
                continue
            found: dict[str, list[tuple[int, int]]] = {}
            for line in listing.splitlines():
                fields = line.split()
                if "master" not in fields[2] or "fail" in fields[2]:
                    continue
                address = fields[1].split("@", 1)[0]
                ranges = []
                for part in fields[8:]:
                    if part.startswith("["):
                        continue  # a slot being migrated
                    low, _, high = part.partition("-")
                    ranges.append((int(low), int(high or low)))
                found[address] = ranges
            return found
        raise RuntimeError("no live cluster node answers")

    def master_of(self, key: str) -> ClusterNode:
        """The node serving ``key``'s slot now (a channel name works the same way)."""
        slot = key_slot(key.encode())
        for address, ranges in self.slots().items():
            if any(low <= slot <= high for low, high in ranges):
                return self.node(address)
        raise RuntimeError(f"slot {slot} is not served")

    def node(self, address: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == address)

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        for node in self.live_nodes():
            if node is master:
                continue
            info = command(node.port, "INFO", "replication")
            if (
                "role:slave" in info
                and f"master_port:{master.port}\r\n" in info
                and "master_link_status:up" in info
            ):
                return node
        raise RuntimeError(f"{master.name} has no live replica in sync")

    def healthy(self) -> bool:
        """Every live node says ``cluster_state:ok``, sees every slot served, and (when
        all nodes run) every master has a replica."""
        try:
            for node in self.live_nodes():
                info = command(node.port, "CLUSTER", "INFO")
                if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                    return False
            served = sum(hi - lo + 1 for ranges in self.slots().values() for lo, hi in ranges)
            if served != 16384:
                return False
            if len(self.live_nodes()) == len(self.nodes):
                masters = self.slots().keys()
                for address in masters:
                    self.replica_of(self.node(address))
        except (OSError, RuntimeError):
            return False
        return True

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        def logs() -> str:
            logs = "\n".join(f"--- {n.name}\n{n.log()}" for n in self.nodes)
            return f"the Redis Cluster is not healthy after {timeout}s\n{logs}"

        eventually_sync(self.healthy, timeout_s=timeout, every_s=0.1, failure=logs)

    def kill_master_of(self, key: str) -> tuple[ClusterNode, ClusterNode]:
        """Kill the master serving ``key``; returns it and the replica that will take over."""
        master = self.master_of(key)
        replica = self.replica_of(master)
        master.kill()
        return master, replica

    def wait_failed_over(self, key: str, to: ClusterNode) -> None:
        """Until ``to`` serves ``key``'s slot (bounded)."""

        def took_over() -> bool:
            try:
                return self.master_of(key) is to
            except RuntimeError:
                return False

        eventually_sync(
            took_over,
            timeout_s=FAILOVER_TIMEOUT_S,
            failure=lambda: f"{to.name} did not take over {key!r} in {FAILOVER_TIMEOUT_S}s",
        )

    def restart(self, node: ClusterNode) -> None:
        """Start a killed node again: it rejoins (as a replica of whoever took over)."""
        node.start()
        self.wait_healthy(FAILOVER_TIMEOUT_S)

    def manual_failover(self, key: str) -> tuple[ClusterNode, ClusterNode]:
        """``CLUSTER FAILOVER`` on the replica of ``key``'s master: the two swap roles,
        nothing is killed. Returns (old master, new master) once the new one serves it."""
        master = self.master_of(key)
        replica = self.replica_of(master)
        assert command(replica.port, "CLUSTER", "FAILOVER") == "OK"
        self.wait_failed_over(key, replica)
        return master, replica
