"""The memmark-redis wheel works alone: Lua scripts inside, nothing from the workspace."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backends import key_prefix

ROOT = Path(__file__).resolve().parents[2]

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
            await memory.clear()
        print(memmark.redis.__file__)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.redis
def test_wheels_install_and_run_in_a_clean_venv(redis_url: str, tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    dist = tmp_path / "dist"
    for package in ("memmark-core", "memmark-redis"):
        subprocess.run(
            [uv, "build", "--package", package, "--wheel", "-o", str(dist)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *map(str, sorted(dist.glob("*.whl")))],
        check=True,
        capture_output=True,
        timeout=120,
    )
    run = subprocess.run(
        [str(python), "-c", SCRIPT, redis_url, key_prefix()],
        cwd=tmp_path,  # away from the workspace, so only the wheel can be imported
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # the scripts were found inside the installed package, not in the repository
    assert run.stdout.strip().startswith(str(venv)), run.stdout
