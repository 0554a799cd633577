"""Whether a test server answers, and redis-server processes the tests start themselves.

On a laptop a missing server skips its tests with the reason. With
``MEMMARK_REQUIRE_SERVERS=1`` (CI) a missing server fails the run instead, so
a green CI run really exercised every backend. Where the shared servers are
is the backend table's business (``tests/backends.py``); this module only
probes them, and starts the throwaway ``redis-server`` processes (one server,
or a three-master cluster) that tests may kill, stop and restart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REQUIRE_SERVERS = os.environ.get("MEMMARK_REQUIRE_SERVERS", "") not in ("", "0")

_answered: dict[str, str | None] = {}


def _probe(url: str) -> str | None:
    """Return why the server of ``url`` is unusable, or ``None`` if it accepts TCP."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port
    if port is None:
        return f"no port in {url!r}"
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} does not answer ({exc})"


def unavailable(message: str) -> None:
    """Skip the running test with ``message``, or fail it under ``MEMMARK_REQUIRE_SERVERS``."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{message} (MEMMARK_REQUIRE_SERVERS is set)", pytrace=False)
    pytest.skip(message)


def require_server(name: str, url: str) -> str:
    """Return ``url`` if its server answers; otherwise skip, or fail under CI.

    Args:
        name: The server's name, for the message.
        url: Its URL (SQLAlchemy or redis form).
    """
    if url not in _answered:
        _answered[url] = _probe(url)
    reason = _answered[url]
    if reason is not None:
        unavailable(f"{name} server not available: {reason}")
    return url


def require_binaries(*names: str) -> None:
    """Skip (fail under ``MEMMARK_REQUIRE_SERVERS``) unless every program is installed."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        unavailable(f"{' / '.join(missing)} not installed")


# -- throwaway redis-server processes ----------------------------------------------

PERSISTENCE: dict[str, tuple[str, ...]] = {
    "none": ("--save", "", "--appendonly", "no"),
    "aof-always": ("--save", "", "--appendonly", "yes", "--appendfsync", "always"),
}
"""redis-server arguments per persistence setting."""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    """Return ``n`` free loopback ports whose cluster-bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000 and port not in ports and _port_free(port) and _port_free(port + 10000):
            ports.append(port)
    return ports


def poll(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Call ``check`` until it is true; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling interval of a health check, not a fixed wait


def cli(port: int, *args: str) -> str:
    """Run ``redis-cli`` against the loopback server on ``port``; return its output."""
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return out.stdout


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class RedisServer:
    """One redis-server process on a loopback port, which a test may kill and restart.

    Attributes:
        port: Its loopback port.
        root: Its working directory (AOF files live here across restarts).
        persistence: A key of :data:`PERSISTENCE`.
        extra: More ``redis-server`` arguments.
    """

    port: int
    root: Path
    persistence: str = "none"
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        """Run ``redis-cli`` against the server and return its output."""
        return cli(self.port, *args)

    def start(self) -> float:
        """Start the server and poll until it answers; return the seconds that took."""
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.root),
                "--logfile", str(self.root / "redis.log"),
                *PERSISTENCE[self.persistence],
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # LOADING replies come while an AOF is read back: wait for a real PONG.
        poll(lambda: self.cli("ping").strip() == "PONG", f"redis-server {self.port}")
        return time.monotonic() - t0

    def kill9(self) -> None:
        """SIGKILL the server, as a crash would, and reap it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open, nothing answers."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def unpause(self) -> None:
        """SIGCONT the server after :meth:`pause`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server for good (SIGCONT first, in case it is paused)."""
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


@contextlib.contextmanager
def redis_server(persistence: str = "none", extra: tuple[str, ...] = ()) -> Iterator[RedisServer]:
    """Start a :class:`RedisServer`; stop it and remove its directory afterwards."""
    require_binaries("redis-server", "redis-cli")
    root = Path(tempfile.mkdtemp(prefix="memmark-redis-"))
    server = RedisServer(free_ports(1)[0], root, persistence, extra)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Cluster:
    """Three masters on loopback; ``ports[0]`` is a fine startup node."""

    ports: list[int]
    procs: list[subprocess.Popen[bytes]]
    root: Path

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """The cluster as the backend table writes it: ``redis+cluster://host:port``."""
        return f"redis+cluster://{self.host}:{self.ports[0]}"

    def client(self, **kwargs: Any) -> Any:
        """Return a ``redis.asyncio.RedisCluster`` on the cluster."""
        import redis.asyncio as aioredis

        return aioredis.RedisCluster(host=self.host, port=self.ports[0], **kwargs)

    def start_node(self, index: int, persistence: str = "none") -> subprocess.Popen[bytes]:
        """Start node ``index`` (again, after a kill: its directory keeps its state)."""
        port = self.ports[index]
        node_dir = self.root / str(port)
        node_dir.mkdir(exist_ok=True)
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node_dir / "nodes.conf"),
                "--cluster-node-timeout", "2000",
                "--dir", str(node_dir),
                "--logfile", str(node_dir / "redis.log"),
                *PERSISTENCE[persistence],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if index < len(self.procs):
            self.procs[index] = proc
        else:
            self.procs.append(proc)
        return proc

    def restart_node(self, index: int, persistence: str) -> float:
        """Start a killed node as it was and wait for the cluster; return the seconds taken."""
        t0 = time.monotonic()
        self.start_node(index, persistence)
        port = self.ports[index]
        poll(lambda: cli(port, "ping").strip() == "PONG", f"node {port}")
        self.wait_ok()
        return time.monotonic() - t0

    def wait_ok(self) -> None:
        """Poll every node until it reports ``cluster_state:ok``."""
        for port in self.ports:
            poll(lambda p=port: "cluster_state:ok" in cli(p, "cluster", "info"), "cluster ok")


@contextlib.contextmanager
def start_cluster() -> Iterator[Cluster]:
    """Start three cluster masters in a temporary directory; stop them after."""
    require_binaries("redis-server", "redis-cli")
    cluster = Cluster(free_ports(3), [], Path(tempfile.mkdtemp(prefix="memmark-cluster-")))
    try:
        for index in range(len(cluster.ports)):
            cluster.start_node(index)
        for port in cluster.ports:
            poll(lambda p=port: cli(p, "ping").strip() == "PONG", f"node {port}")
        created = subprocess.run(
            [
                "redis-cli", "--cluster", "create",
                *(f"127.0.0.1:{p}" for p in cluster.ports),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"cluster create failed: {created.stdout}{created.stderr}")
        cluster.wait_ok()
        yield cluster
    finally:
        for proc in cluster.procs:
            _stop(proc)
        shutil.rmtree(cluster.root, ignore_errors=True)
