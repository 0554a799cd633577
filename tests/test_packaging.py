"""Every package builds, and its sdist installs alone into a clean virtual environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.installs import ROOT, clean_venv, install, run, uv

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


def test_every_sdist_builds_and_installs_alone_core_first(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(uv(), "build", "--all-packages", "-o", dist)
    names = {p.name.split("-")[0] for p in dist.glob("*.tar.gz")}
    assert names == {name.replace("memory-", "memmark_") for name in PACKAGES}
    assert {p.name.split("-")[0] for p in dist.glob("*.whl")} == names

    python = clean_venv(tmp_path / "venv", pip=True)
    (core,) = dist.glob("memmark_core-*.tar.gz")
    (sql,) = dist.glob("memmark_sql-*.tar.gz")
    (redis,) = dist.glob("memmark_redis-*.tar.gz")
    # With pip, one at a time, core first, as a user adding a backend at a time would.
    install(python, core, find_links=dist, pip=True)
    install(python, f"memmark-sql[sqlite] @ {sql.as_uri()}", find_links=dist, pip=True)
    install(python, redis, find_links=dist, pip=True)
    # Away from the workspace, so only what was installed can be imported.
    out = run(python, "-c", SCRIPT, tmp_path, cwd=tmp_path).stdout
    for name in ("memmark-core", "memmark-sql", "memmark-redis"):
        assert name in out
