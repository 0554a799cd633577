"""The command line's tests: ``python -m memmark`` in a subprocess, against the real servers.

Each store a test uses is its own: a fresh SQL table prefix or Redis key
prefix, passed to the command as ``-O table_prefix=…`` / ``-O key_prefix=…``
and dropped at the end.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from memmark.core import Msg, connect
from memmark.core.urls import close_shared
from tests.backends import drop_keys, drop_tables, key_prefix, redis_client, server_url, sql_engine
from tests.backends import table_prefix as new_table_prefix

ROOT = Path(__file__).resolve().parents[2]


def memmark(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m memmark ARGS`` and return what it did (never raises on exit codes)."""
    return subprocess.run(
        [sys.executable, "-m", "memmark", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Store:
    """A store of its own on a server: the URL and the option that keeps it apart.

    Attributes:
        url: The server's URL.
        option: ``key_prefix=…`` or ``table_prefix=…``.
    """

    url: str
    option: str

    @property
    def options(self) -> dict[str, Any]:
        """The option as ``connect`` keywords."""
        key, _, value = self.option.partition("=")
        return {key: value}

    def args(self, flag: str = "-O") -> list[str]:
        """The option as command-line arguments."""
        return [flag, self.option]

    def memory(self, user_id: str, session_id: str) -> Any:
        """Open the memory of a pair in this store."""
        return connect(self.url, user_id=user_id, session_id=session_id, **self.options)


@pytest.fixture(autouse=True)
async def _shared_pools_closed() -> AsyncIterator[None]:
    yield
    await close_shared()


@pytest.fixture
async def redis_store() -> AsyncIterator[Store]:
    """A key prefix of its own on the shared Redis."""
    url = server_url("redis")
    prefix = key_prefix()
    yield Store(url, f"key_prefix={prefix}")
    client = redis_client(url)
    try:
        await drop_keys(client, prefix)
    finally:
        await client.aclose()


async def _sql_store(backend: str) -> AsyncIterator[Store]:
    url = server_url(backend)
    prefix = new_table_prefix()
    yield Store(url, f"table_prefix={prefix}")
    engine = sql_engine(url)
    try:
        await drop_tables(engine, prefix)
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_store() -> AsyncIterator[Store]:
    """Tables of their own on the shared PostgreSQL."""
    async for store in _sql_store("postgres"):
        yield store


@pytest.fixture
async def mariadb_store() -> AsyncIterator[Store]:
    """Tables of their own on the shared MariaDB."""
    async for store in _sql_store("mariadb"):
        yield store


@pytest.fixture
def user() -> str:
    """A user id no other test uses."""
    return f"cli-{uuid.uuid4().hex[:10]}"


def marks_of(i: int) -> list[str]:
    """The marks of message ``i`` of a seeded session: runs of hints, a few tools, none."""
    if i % 50 < 10:
        return ["hint"]
    if i % 7 == 0:
        return ["tool", "hint"]
    return []


def message(session: str, i: int) -> Msg:
    """Message ``i`` of a seeded session: text, or a tool call and its result."""
    if i % 5 == 4:
        content: Any = [
            {"type": "tool_use", "id": f"call-{i}", "name": "search", "input": {"q": f"{i}"}},
            {"type": "text", "text": f"[{session}] looked up {i}"},
        ]
    else:
        content = f"[{session}] message {i}: " + "lorem ipsum " * (i % 4)
    return Msg("agent" if i % 2 else "user", content, "assistant" if i % 2 else "user")


async def seed(store: Store, user: str, sessions: int, size: int) -> dict[str, list[str]]:
    """Write ``sessions`` sessions of ``size`` messages (marked by :func:`marks_of`) for ``user``.

    Returns:
        Each session's message ids, in order.
    """
    made: dict[str, list[str]] = {}
    for s in range(sessions):
        name = f"s{s}"
        memory = store.memory(user, name)
        batch: list[Msg] = []
        marks: list[str] | None = None
        ids: list[str] = []
        for i in range(size):
            msg = message(name, i)
            ids.append(msg.id)
            if batch and (marks_of(i) != marks or len(batch) >= 500):
                await memory.add(batch, marks=marks or None)
                batch = []
            batch.append(msg)
            marks = marks_of(i)
        if batch:
            await memory.add(batch, marks=marks or None)
        if s % 2 == 0:
            await memory.update_compressed_summary(f"summary of {name}")
        if s % 3 == 0:
            await memory.set_session_state({"turn": s, "tools": ["search"], "name": "ñ"})
        await memory.close()
        made[name] = ids
    return made


async def exported(store: Store, user: str, session: str) -> dict[str, Any]:
    """The session's ``export_state()``, each message's marks sorted (stores order them apart)."""
    memory = store.memory(user, session)
    try:
        state: dict[str, Any] = await memory.export_state()
    finally:
        await memory.close()
    state["content"] = [[data, sorted(marks)] for data, marks in state["content"]]
    return state


async def versions(store: Store, user: str, sessions: list[str]) -> dict[str, int]:
    """Each session's version."""
    found = {}
    for session in sessions:
        memory = store.memory(user, session)
        found[session] = await memory.version()
        await memory.close()
    return found


def read_lines(path: Path) -> list[str]:
    """The lines of a text file."""
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def tmp_file(tmp_path: Path) -> Iterator[Path]:
    """A path for a JSON Lines file."""
    return tmp_path / "sessions.jsonl"
