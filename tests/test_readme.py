"""The README's usage example runs and prints what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


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
