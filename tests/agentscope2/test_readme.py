"""The AgentScope 2.x example of memmark-agentscope's README runs and prints what it says.

Its blocks are marked ``py``, not ``python``: the workspace's README test
runs ``python`` blocks under AgentScope 1.x.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "packages" / "memory-agentscope" / "README.md"


def test_the_2x_example_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    blocks = re.findall(r"^```py\n(.*?)^```", README.read_text(), re.S | re.M)
    runnable = [b for b in blocks if "asyncio.run(" in b]
    assert runnable, "no runnable 2.x example"
    for code in runnable:
        promised = [m.group(1) for m in re.finditer(r"print\(.*\)  # (.*)$", code, re.M)]
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == promised
