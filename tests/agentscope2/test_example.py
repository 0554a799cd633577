"""examples/agentscope2_agent.py, driven in process and on SQLite."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agentscope2_agent.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_agentscope2_agent", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_the_example_serves_three_turns(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = load()
    monkeypatch.setitem(example.URLS, "sqlite", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    answers = await example.main(backend, session_id=f"s-{uuid.uuid4().hex[:8]}")
    assert [a.split(" in Weather in ")[1][:4] for a in answers] == ["Pari", "Oslo", "Lima"]
    out = capsys.readouterr().out
    assert "compressed ones" in out
    assert " 0 compressed ones" not in out
