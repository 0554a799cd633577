"""The Lua scripts of ``lua/``: found, read once per process, and run by SHA."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError

PRELUDE = "_common.lua"
"""The file of helpers prepended first to every script; not a script of its own."""

SHARED_PREFIX = "_"
"""Files named so are shared code, prepended to every script (the prelude
first, then the others by name): the helpers, and the operations that a
write's own script and the batch script both run."""


_FUNCTION = re.compile(rb"^local function ([A-Za-z_][A-Za-z0-9_]*)\b")
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_COMMENT = re.compile(rb"--[^\n]*")


def _pieces(shared: bytes) -> Iterator[tuple[str | None, bytes]]:
    """Cut the shared code into its top-level pieces, in order.

    Yields ``(name, text)`` for each ``local function name`` (from the
    comment lines right above it to its closing ``end`` at the start of a
    line) and ``(None, text)`` for the code between them.
    """
    pending: list[bytes] = []
    name: str | None = None
    for line in shared.splitlines(keepends=True):
        found = _FUNCTION.match(line) if name is None else None
        if found:
            comment_from = len(pending)
            while comment_from > 0 and pending[comment_from - 1].startswith(b"--"):
                comment_from -= 1
            if comment_from:
                yield None, b"".join(pending[:comment_from])
            pending = pending[comment_from:]
            name = found.group(1).decode()
        pending.append(line)
        if name is not None and line.rstrip() == b"end":
            yield name, b"".join(pending)
            pending, name = [], None
    if pending:
        yield name, b"".join(pending)


def _names(text: bytes) -> set[str]:
    """Return every name the Lua code ``text`` mentions outside comments."""
    return {word.decode() for word in _NAME.findall(_COMMENT.sub(b"", text))}


def trimmed(shared: bytes, body: bytes) -> bytes:
    """Return ``shared`` without the local functions ``body`` never reaches.

    Every top-level ``local function`` is a closure Redis makes again on
    every run of the script, so the shared helpers a script does not call
    cost it time at each call (about half the server time of a ``size``
    run). A function is kept when the body, or code kept after it, names
    it; the code between functions (the key names, the constants) is
    always kept. A local is only visible below its definition, so one walk
    from the end finds them all.
    """
    pieces = list(_pieces(shared))
    needed = _names(body)
    kept = [False] * len(pieces)
    for index in range(len(pieces) - 1, -1, -1):
        name, text = pieces[index]
        if name is None or name in needed:
            kept[index] = True
            needed |= _names(text)
    return b"".join(text for (_, text), keep in zip(pieces, kept, strict=True) if keep)


class Script:
    """A Lua script known by its SHA1, run with ``EVALSHA``.

    redis-py's own ``Script`` objects cannot ask for undecoded replies, and
    on ``NOSCRIPT`` they send ``SCRIPT LOAD`` and then ``EVALSHA`` again; this
    one falls back to a single ``EVAL``, which also caches the script on the
    server for the next call.

    Attributes:
        name: The operation, the script's file name without ``.lua``.
        source: The script's text (the shared prelude included).
        sha: The SHA1 hex digest Redis knows the script by.
    """

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: bytes) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source).hexdigest()

    async def run(self, client: Any, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        """Run the script in one round trip and return its raw, undecoded reply.

        ``NEVER_DECODE`` makes redis-py skip response decoding for this one
        command, so payloads stay bytes even on a pool made with
        ``decode_responses=True``, without a second pool.

        Args:
            client: A ``redis.asyncio.Redis`` or ``RedisCluster``.
            keys: The keys the script touches (all in one hash slot).
            args: The script's ``ARGV``.
        """
        try:
            return await client.execute_command(
                "EVALSHA", self.sha, len(keys), *keys, *args, NEVER_DECODE=True
            )
        except NoScriptError:
            # The server lost its script cache (SCRIPT FLUSH, restart, fail-over).
            return await client.execute_command(
                "EVAL", self.source, len(keys), *keys, *args, NEVER_DECODE=True
            )


def lua_dir() -> Path:
    """Return the folder the scripts are read from.

    Installed from a wheel, the scripts sit inside the package; in the
    workspace's editable install they are read from the repository's ``lua/``.

    Raises:
        FileNotFoundError: Neither place holds the scripts.
    """
    packaged = resources.files("memmark.redis").joinpath("lua")
    if packaged.joinpath(PRELUDE).is_file():
        return Path(str(packaged))
    repository = Path(__file__).resolve().parents[5] / "lua"
    if (repository / PRELUDE).is_file():
        return repository
    raise FileNotFoundError(f"memmark-redis: Lua scripts not found in {packaged} or {repository}")


def shared_code(folder: Path) -> bytes:
    """Return the shared files of ``folder`` joined: the prelude, then the others by name."""
    shared = sorted(path for path in folder.glob("*.lua") if path.name.startswith(SHARED_PREFIX))
    shared.sort(key=lambda path: path.name != PRELUDE)  # the prelude first
    return b"".join(path.read_bytes() for path in shared)


@cache
def scripts() -> dict[str, Script]:
    """Return every script of the folder by name, each with the shared files in front.

    Read from disk once per process. Every ``.lua`` file whose name does not
    start with :data:`SHARED_PREFIX` is a script, named after its file. Of
    the shared files' functions, each script carries only those it calls
    (see :func:`trimmed`).
    """
    folder = lua_dir()
    shared = shared_code(folder)
    found: dict[str, Script] = {}
    for path in sorted(folder.glob("*.lua")):
        if not path.name.startswith(SHARED_PREFIX):
            body = path.read_bytes()
            found[path.stem] = Script(path.stem, trimmed(shared, body) + body)
    return found
