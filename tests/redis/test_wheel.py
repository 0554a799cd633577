"""The memmark-redis sdist and wheel work alone: Lua scripts inside, nothing from the workspace."""

from __future__ import annotations

import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.backends import key_prefix
from tests.installs import ROOT, build, clean_venv, install, run, uv

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import memmark.redis
    from memmark.core import Msg
    from memmark.redis import RedisMemory

    async def main(url, prefix):
        async with RedisMemory(url=url, key_prefix=prefix, user_id="wheel") as memory:
            await memory.add(Msg("Alice", "hello", "user"))
            await memory.add(Msg("system", "a hint", "system"), marks="hint")
            got = await memory.get_memory(mark="hint")
            assert [m.content for m in got] == ["a hint"], got
            assert await memory.size() == 2
            await memory.delete_session()
        print(memmark.redis.__file__)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.redis
def test_a_wheel_built_from_the_sdist_installs_and_runs_in_a_clean_venv(
    redis_url: str, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    build(dist, "memmark-core")
    # the sdist alone, then a wheel from it: the path pip takes from PyPI
    build(dist, "memmark-redis", kind="--sdist")
    (sdist,) = dist.glob("memmark_redis-*.tar.gz")
    with tarfile.open(sdist) as archive:
        shipped = {Path(name).name for name in archive.getnames() if "/lua/" in name}
    assert shipped == {path.name for path in (ROOT / "lua").glob("*.lua")}
    run(uv(), "build", sdist, "--wheel", "-o", dist)
    (wheel,) = dist.glob("memmark_redis-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = {Path(name).name for name in archive.namelist() if "memmark/redis/lua/" in name}
    assert packed == shipped

    venv = tmp_path / "venv"
    python = clean_venv(venv)
    install(python, *sorted(dist.glob("*.whl")))
    # away from the workspace, so only the installed wheels can be imported
    ran = run(python, "-c", SCRIPT, redis_url, key_prefix(), cwd=tmp_path)
    # the scripts were found inside the installed package, not in the repository
    assert ran.stdout.strip().startswith(str(venv)), ran.stdout
