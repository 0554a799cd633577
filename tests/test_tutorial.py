"""The tutorial runs and prints the shapes the seed tutorial prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPR = re.compile(
    r"^- Msg\(id='[2-9A-HJ-NP-Za-km-z]{22}', name='[^']*', content='.*', "
    r"role='(user|system|assistant)', "
    r"metadata=None, timestamp='\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}', invocation_id='None'\)$"
)


def json_blocks(lines: list[str], title: str) -> list[dict[str, object]]:
    """Return each JSON document printed after a line equal to ``title``."""
    blocks = []
    for i, line in enumerate(lines):
        if line == title:
            depth, end = 0, i + 1
            for end in range(i + 1, len(lines)):
                depth += lines[end].count("{") - lines[end].count("}")
                if depth == 0:
                    break
            blocks.append(json.loads("\n".join(lines[i + 1 : end + 1])))
    return blocks


def test_tutorial_prints_the_tutorials_shapes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MEMMARK_REDIS_URL"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tutorial.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    ).stdout
    lines = out.splitlines()
    msg_lines = [line for line in lines if line.startswith("- Msg(")]
    assert msg_lines, out
    for line in msg_lines:
        assert REPR.match(line), line

    before, after = json_blocks(lines, "The state dict of the memory:") + json_blocks(
        lines, "The state dict of the memory after deletion:"
    )
    for state in (before, after):
        assert list(state) == ["content"]
        for entry in state["content"]:  # type: ignore[union-attr]
            msg, marks = entry
            assert list(msg) == ["id", "name", "role", "content", "metadata", "timestamp"]
            assert isinstance(marks, list)
    assert [marks for _, marks in before["content"]] == [[], ["hint"]]  # type: ignore[union-attr]
    assert [marks for _, marks in after["content"]] == [[]]  # type: ignore[union-attr]
    assert "Deleted 1 messages with mark 'hint'." in lines
