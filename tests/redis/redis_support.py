"""Redis test servers: the shared one, fakeredis, and a throwaway cluster."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from servers import REDIS_URL, REQUIRE_SERVERS, require_server


def unique_prefix() -> str:
    """Return a key prefix no other test uses (safe inside a SCAN MATCH pattern)."""
    return f"mmtest:{uuid.uuid4().hex}:"


async def drop_prefix(client: aioredis.Redis | aioredis.RedisCluster, prefix: str) -> None:
    """Delete every key under ``prefix`` (tests only; the library never scans)."""
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for key in keys:
        await client.delete(key)


@pytest.fixture
def redis_url() -> str:
    """The shared server's URL (db 15), or a skip/fail when it does not answer."""
    return require_server("Redis", REDIS_URL)


@contextlib.asynccontextmanager
async def real_client(url: str, **kwargs: object) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(url, **kwargs)
    try:
        yield client
    finally:
        await client.aclose()


# -- a throwaway Redis Cluster ---------------------------------------------------


@dataclass
class Cluster:
    """Three masters on loopback; ``ports[0]`` is a fine startup node."""

    ports: list[int]
    procs: list[subprocess.Popen[bytes]]
    root: Path

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def client(self, **kwargs: object) -> aioredis.RedisCluster:
        return aioredis.RedisCluster(host=self.host, port=self.ports[0], **kwargs)  # type: ignore[arg-type]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(n: int) -> list[int]:
    # Each node also listens on port + 10000 for the cluster bus.
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000 and port not in ports and _port_free(port) and _port_free(port + 10000):
            ports.append(port)
    return ports


def _poll(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling interval of a health check, not a fixed wait


def _cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return out.stdout


def require_binaries(*names: str) -> None:
    """Skip (fail under ``MEMMARK_REQUIRE_SERVERS``) unless every program is installed."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        message = f"{' / '.join(missing)} not installed"
        if REQUIRE_SERVERS:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@contextlib.contextmanager
def start_cluster() -> Iterator[Cluster]:
    """Start three cluster masters in a temporary directory; stop them after."""
    require_binaries("redis-server", "redis-cli")
    root = Path(tempfile.mkdtemp(prefix="memmark-cluster-"))
    ports = _free_ports(3)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node_dir = root / str(port)
            node_dir.mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", str(node_dir / "nodes.conf"),
                        "--cluster-node-timeout", "2000",
                        "--dir", str(node_dir),
                        "--save", "",
                        "--appendonly", "no",
                        "--logfile", str(node_dir / "redis.log"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in ports:
            _poll(lambda p=port: _cli(p, "ping").strip() == "PONG", f"node {port}")
        created = subprocess.run(
            [
                "redis-cli", "--cluster", "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"cluster create failed: {created.stdout}{created.stderr}")
        for port in ports:
            _poll(lambda p=port: "cluster_state:ok" in _cli(p, "cluster", "info"), "cluster ok")
        yield Cluster(ports, procs, root)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A three-master Redis Cluster on free loopback ports, for the whole run."""
    with start_cluster() as cluster:
        yield cluster


@dataclass
class Server:
    """One throwaway redis-server on a free loopback port."""

    port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.root),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(self.root / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _poll(lambda: _cli(self.port, "ping").strip() == "PONG", f"redis-server {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def own_server() -> Iterator[Server]:
    """A redis-server of the test's own: nothing else talks to it."""
    require_binaries("redis-server")
    root = Path(tempfile.mkdtemp(prefix="memmark-redis-"))
    server = Server(_free_ports(1)[0], root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
