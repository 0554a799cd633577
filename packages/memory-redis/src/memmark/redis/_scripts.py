"""The Lua scripts, loaded once per process, and the one round trip that runs them."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError

# Kept in one place so a script added to ``lua/`` is never forgotten here.
NAMES = (
    "add",
    "clear",
    "delete",
    "delete_by_mark",
    "export",
    "get",
    "import",
    "size",
    "summary",
    "update_marks",
)


class Script:
    """A Lua script known by its SHA1, run with ``EVALSHA``.

    redis-py's own ``Script`` objects cannot ask for undecoded replies, and
    on ``NOSCRIPT`` they send ``SCRIPT LOAD`` and then ``EVALSHA`` again; this
    one falls back to a single ``EVAL``, which also caches the script on the
    server for the next call.

    Attributes:
        name: The operation, e.g. ``"add"``.
        source: The script's text (the shared prelude included).
        sha: The SHA1 hex digest Redis knows the script by.
    """

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: bytes) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source).hexdigest()

    async def run(self, client: Any, keys: tuple[bytes, ...], args: list[Any]) -> Any:
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


def _lua_dir() -> Path:
    # Installed from a wheel, the scripts sit inside the package; in the
    # workspace's editable install they are read from the repository's lua/.
    packaged = resources.files("memmark.redis").joinpath("lua")
    if packaged.joinpath("_common.lua").is_file():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[5] / "lua"
    if (repo / "_common.lua").is_file():
        return repo
    raise FileNotFoundError(f"memmark-redis: Lua scripts not found in {packaged} or {repo}")


@cache
def scripts() -> dict[str, Script]:
    """Return every script by name, read from disk once per process."""
    where = _lua_dir()
    prelude = (where / "_common.lua").read_bytes()
    return {name: Script(name, prelude + (where / f"{name}.lua").read_bytes()) for name in NAMES}
