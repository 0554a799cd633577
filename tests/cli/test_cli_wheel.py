"""memmark-cli installed alone with memmark-core: the command runs, and names what to install."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(
    *args: str | Path, cwd: Path = ROOT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_cli_without_any_backend_names_the_install_line(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: the workspace is built with it")
    dist = tmp_path / "dist"
    for package in ("memmark-core", "memmark-cli"):
        _run(uv, "build", "--package", package, "--wheel", "-o", dist)
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--find-links", dist, "memmark-cli")

    memmark = venv / "bin" / "memmark"
    helped = _run(memmark, "--help", cwd=tmp_path)
    assert "copy" in helped.stdout
    # python -m memmark: the namespace's __main__ comes with memmark-cli.
    shown = _run(venv / "bin" / "python", "-m", "memmark", "show", "memory://", cwd=tmp_path)
    assert "0 messages" in shown.stdout

    for url, line in [
        ("redis://127.0.0.1:6379/0", "pip install 'memmark-redis'"),
        ("postgresql://postgres@127.0.0.1/test", "pip install 'memmark-sql[postgres]'"),
    ]:
        for args in (["sessions", url], ["doctor", url], ["copy", "memory://", url, "--all"]):
            done = _run(memmark, *args, cwd=tmp_path, check=False)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert line in done.stderr
            assert "Traceback" not in done.stderr
    bench = _run(memmark, "bench", cwd=tmp_path, check=False)
    assert bench.returncode == 2
    assert "checkout" in bench.stderr
