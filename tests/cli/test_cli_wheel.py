"""memmark-cli installed alone with memmark-core: the command runs, and names what to install."""

from __future__ import annotations

from pathlib import Path

from tests.installs import build, clean_venv, install, run


def test_the_cli_without_any_backend_names_the_install_line(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build(dist, "memmark-core", "memmark-cli")
    python = clean_venv(tmp_path / "venv")
    install(python, "memmark-cli", find_links=dist)

    memmark = python.parent / "memmark"
    helped = run(memmark, "--help", cwd=tmp_path)
    assert "copy" in helped.stdout
    # python -m memmark: the namespace's __main__ comes with memmark-cli.
    shown = run(python, "-m", "memmark", "show", "memory://", cwd=tmp_path)
    assert "0 messages" in shown.stdout

    for url, line in [
        ("redis://127.0.0.1:6379/0", "pip install 'memmark-redis'"),
        ("postgresql://postgres@127.0.0.1/test", "pip install 'memmark-sql[postgres]'"),
    ]:
        for args in (["sessions", url], ["doctor", url], ["copy", "memory://", url, "--all"]):
            done = run(memmark, *args, cwd=tmp_path, check=False)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert line in done.stderr
            assert "Traceback" not in done.stderr
    bench = run(memmark, "bench", cwd=tmp_path, check=False)
    assert bench.returncode == 2
    assert "checkout" in bench.stderr
