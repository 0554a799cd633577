"""A redis-server of the test's own, to kill, stop, restart and read SLOWLOG from.

It listens on a free loopback port, keeps its files in its own temporary
directory and is stopped afterwards. The port, polling and CLI helpers are
the Redis tests' own (``tests/redis/redis_support.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reliability.backends import redis_helpers

PERSISTENCE: dict[str, tuple[str, ...]] = {
    "none": ("--save", "", "--appendonly", "no"),
    "aof-always": ("--save", "", "--appendonly", "yes", "--appendfsync", "always"),
}
"""redis-server arguments per persistence setting."""


@dataclass
class OwnRedis:
    """One redis-server process that the test may kill and restart.

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
        return str(redis_helpers()._cli(self.port, *args))

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
        redis_helpers()._poll(lambda: self.cli("ping").strip() == "PONG", f"redis {self.port}")
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
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def own_redis(persistence: str = "none", extra: tuple[str, ...] = ()) -> Iterator[OwnRedis]:
    """Start an :class:`OwnRedis`; stop it and remove its directory afterwards."""
    redis_helpers().require_binaries("redis-server", "redis-cli")
    root = Path(tempfile.mkdtemp(prefix="memmark-rel-redis-"))
    server = OwnRedis(redis_helpers()._free_ports(1)[0], root, persistence, extra)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
