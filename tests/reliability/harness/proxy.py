"""A TCP proxy on loopback that can delay, drop or stall a server's replies.

It sits between a memory and its server so a test can make a call's outcome
ambiguous: the request reaches the server and is applied, but the reply comes
too late (``delay``) or never (``drop``). ``stall`` stops all traffic, as if
the server were stopped with SIGSTOP, without touching a shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.backends import Backend, redis_client


@dataclass
class Proxy:
    """One listening proxy to ``target_host:target_port``.

    Attributes:
        port: The loopback port clients connect to.
        trigger: Bytes that mark the request whose reply is hurt (e.g.
            ``b"COMMIT"``); empty means the next request.
        delay: Seconds a ``delay`` holds the hurt reply back.
        fired: How many replies were hurt so far.
        recorded: When a list, every request chunk is appended to it.
    """

    target_host: str
    target_port: int
    port: int = 0
    trigger: bytes = b""
    delay: float = 1.0
    fired: int = 0
    recorded: list[bytes] | None = None
    _armed: str | None = None
    _running: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def arm(self, action: str) -> None:
        """Hurt the reply to the next request holding :attr:`trigger` (``delay`` or ``drop``)."""
        if action not in ("delay", "drop"):
            raise ValueError(f"action: expected 'delay' or 'drop', got {action!r}")
        self._armed = action

    def disarm(self) -> None:
        """Forget an armed action that has not fired."""
        self._armed = None

    def stall(self) -> None:
        """Stop forwarding in both directions until :meth:`resume`."""
        self._running.clear()

    def resume(self) -> None:
        """Forward again after :meth:`stall`."""
        self._running.set()

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._running.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and cut every connection."""
        self._running.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        # Resets and aborts are what this proxy is for: they end a connection
        # quietly instead of reaching the loop's exception handler.
        with contextlib.suppress(Exception):
            await self._serve(c_reader, c_writer)

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            s_reader, s_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            c_writer.transport.abort()
            return
        self._writers |= {c_writer, s_writer}
        # One flag per connection: the next reply on it is hurt.
        hurt: list[str] = []
        up = asyncio.ensure_future(self._pump(c_reader, s_writer, hurt, upstream=True))
        down = asyncio.ensure_future(
            self._pump(s_reader, c_writer, hurt, upstream=False, peer=s_writer)
        )
        self._tasks |= {up, down}
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for writer in (c_writer, s_writer):
                writer.transport.abort()
                self._writers.discard(writer)
            for task in (up, down):
                task.cancel()
                self._tasks.discard(task)
            await asyncio.gather(up, down, return_exceptions=True)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hurt: list[str],
        *,
        upstream: bool,
        peer: asyncio.StreamWriter | None = None,
    ) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            await self._running.wait()
            if upstream:
                if self.recorded is not None:
                    self.recorded.append(data)
                if self._armed and (
                    not self.trigger or self.trigger in data or self.trigger in data.upper()
                ):
                    hurt.append(self._armed)
                    self._armed = None
            elif hurt:
                action = hurt.pop()
                self.fired += 1
                if action == "drop":
                    # The server has applied the request; the client never hears.
                    writer.transport.abort()
                    if peer is not None:
                        peer.transport.abort()
                    return
                await asyncio.sleep(self.delay)
            writer.write(data)
            await writer.drain()


@contextlib.asynccontextmanager
async def running_proxy(host: str, port: int) -> AsyncIterator[Proxy]:
    """Start a :class:`Proxy` to ``host:port``; close it afterwards."""
    proxy = Proxy(host, port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    netloc[-1] = host
    return urlunsplit(parts._replace(netloc="@".join(netloc)))


async def _cluster_ports(url: str) -> list[int]:
    client = redis_client(url.replace("redis+cluster://", "redis://"))
    try:
        listing = await client.execute_command("CLUSTER", "NODES")
    finally:
        await client.aclose()
    if isinstance(listing, bytes):
        listing = listing.decode()
    return [int(line.split()[1].split("@")[0].rsplit(":", 1)[1]) for line in listing.splitlines()]


@contextlib.asynccontextmanager
async def proxied(backend: Backend) -> AsyncIterator[tuple[Backend, dict[str, Any], list[Proxy]]]:
    """Put proxies between ``backend`` and its server(s).

    Yields the backend as seen through the proxy, the redis client arguments
    that route a cluster's nodes through theirs, and the proxies.
    """
    async with contextlib.AsyncExitStack() as stack:
        if backend.id == "redis-cluster":
            ports = await _cluster_ports(backend.url)
            proxies = [
                await stack.enter_async_context(running_proxy("127.0.0.1", p)) for p in ports
            ]
            by_port = {p: x.port for p, x in zip(ports, proxies, strict=True)}

            def remap(address: tuple[str, int]) -> tuple[str, int]:
                return "127.0.0.1", by_port.get(int(address[1]), int(address[1]))

            url = f"redis+cluster://127.0.0.1:{proxies[0].port}"
            yield replace(backend, url=url), {"address_remap": remap}, proxies
            return
        parts = urlsplit(backend.url)
        proxy = await stack.enter_async_context(
            running_proxy(parts.hostname or "127.0.0.1", parts.port or 0)
        )
        yield replace(backend, url=_with_port(backend.url, proxy.port)), {}, [proxy]
