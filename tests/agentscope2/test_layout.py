"""Under AgentScope 2.x: the middleware imports none of the 1.x modules."""

from __future__ import annotations

import subprocess
import sys


def test_the_middleware_loads_no_1x_module() -> None:
    code = (
        "import sys\n"
        "from memmark.agentscope.v2 import MemmarkMiddleware\n"
        "print(sorted(m for m in sys.modules if m.startswith('memmark.agentscope.')\n"
        "             and not m.startswith('memmark.agentscope.v2')))\n"
        "print('agentscope.memory' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "False"]
