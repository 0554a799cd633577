"""Every package builds, and its sdist installs alone into a clean virtual environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())

SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib.metadata as md, sys
    from memmark.core import Msg, connect

    async def main(folder):
        for url in ("memory://", f"sqlite:///{folder}/packaging.db"):
            memory = connect(url, user_id="u", session_id="s")
            await memory.add(Msg("Alice", "hello", "user"), marks="m")
            assert [m.content for m in await memory.get_memory(mark="m")] == ["hello"]
            await memory.close()
        import memmark.redis._scripts as scripts
        assert len(scripts.scripts()) >= 10, "the Lua scripts travel inside the package"
        names = [d.metadata["Name"] for d in md.distributions()]
        print(sorted(n for n in names if n.startswith("memmark")))

    asyncio.run(main(sys.argv[1]))
    """
)


def _run(*args: str | Path, cwd: Path = ROOT, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}:\\n{done.stdout}\\n{done.stderr}"
    return done.stdout


def test_every_sdist_builds_and_installs_alone_core_first(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: the workspace is built with it")
    dist = tmp_path / "dist"
    _run(uv, "build", "--all-packages", "-o", dist)
    names = {p.name.split("-")[0] for p in dist.glob("*.tar.gz")}
    assert names == {name.replace("memory-", "memmark_") for name in PACKAGES}
    assert {p.name.split("-")[0] for p in dist.glob("*.whl")} == names

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--find-links", dist]
    (core,) = dist.glob("memmark_core-*.tar.gz")
    (sql,) = dist.glob("memmark_sql-*.tar.gz")
    (redis,) = dist.glob("memmark_redis-*.tar.gz")
    _run(*pip, core)
    _run(*pip, f"memmark-sql[sqlite] @ {sql.as_uri()}")
    _run(*pip, redis)
    # Away from the workspace, so only what was installed can be imported.
    out = _run(venv / "bin" / "python", "-c", SCRIPT, tmp_path, cwd=tmp_path)
    for name in ("memmark-core", "memmark-sql", "memmark-redis"):
        assert name in out
