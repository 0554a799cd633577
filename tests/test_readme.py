"""The READMEs' examples run and print what they say."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backends import server_url

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PACKAGE_READMES = sorted((ROOT / "packages").glob("*/README.md"))


def test_usage_example_runs() -> None:
    text = README.read_text()
    section = text[text.index("## Use") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    run = [sys.executable, "-c", code.group(1)]
    out = subprocess.run(run, capture_output=True, text=True, check=True, timeout=60).stdout
    lines = out.splitlines()
    assert lines[0].startswith("[Msg(id='")
    assert "content='<hint>Plan first.</hint>'" in lines[0]
    assert lines[1] == "1"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^ *```python\n(.*?)^ *```", path.read_text(), re.S | re.M)


def promised_output(code: str) -> list[str]:
    """What the ``print(...)  # shown`` lines of a block say they print, in order."""
    return [m.group(1) for m in re.finditer(r"print\(.*\)  # (.*)$", code, re.M)]


@pytest.mark.parametrize("path", PACKAGE_READMES, ids=lambda p: p.parent.name)
def test_every_package_readme_example_runs_and_prints_what_it_says(
    path: Path, tmp_path: Path
) -> None:
    blocks = python_blocks(path)
    assert blocks, f"{path}: no python example"
    for code in blocks:
        code = textwrap.dedent(code)
        prefix = None
        if "redis://localhost:6379/0" in code:
            # The example's server is the test table's (its own database).
            code = code.replace("redis://localhost:6379/0", server_url("redis"))
            prefix = re.search(r'key_prefix="([^"]+)"', code)
        run = [sys.executable, "-c", code]
        done = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, f"{path}:\n{code}\n{done.stderr}"
        assert done.stdout.splitlines() == promised_output(code), f"{path}:\n{code}"
        if prefix is not None:
            _drop_keys(server_url("redis"), prefix.group(1))


def _drop_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()
