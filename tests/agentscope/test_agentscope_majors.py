"""Under AgentScope 1.x: the 1.x names load lazily, and the 2.x middleware says it needs 2.x."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_importing_the_package_imports_no_agentscope_module() -> None:
    done = _run(
        "import sys, memmark.agentscope\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'agentscope'))\n"
        "memmark.agentscope.InMemoryMemory\n"
        "print('agentscope.memory' in sys.modules)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True"]


def test_the_2x_middleware_under_1x_says_what_it_needs() -> None:
    done = _run("import memmark.agentscope.v2")
    assert done.returncode != 0
    assert "ImportError: memmark.agentscope.v2 serves AgentScope 2.x" in done.stderr
    assert "AgentScope 1.x is" in done.stderr
