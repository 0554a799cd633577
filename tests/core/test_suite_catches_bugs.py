"""The conformance suite and the state machine fail on broken backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from memmark.core import InMemoryMemory
from memmark.core.testing import run_state_machine
from tests.backends import in_process_factory
from tests.core.broken_backends import BROKEN

FAST = settings(
    max_examples=400,
    stateful_step_count=30,
    deadline=None,
    database=None,
    # The same examples on every run: a bug found once is found every time,
    # so a pass here never depends on the draw.
    derandomize=True,
    # Finding the bug is the point; shrinking it would only cost time.
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("cls", BROKEN, ids=lambda c: c.__name__)
def test_state_machine_finds_the_bug(cls: type[InMemoryMemory]) -> None:
    with pytest.raises(Exception) as info:
        run_state_machine(in_process_factory(cls), FAST)
    # Hypothesis raises a group when it finds several distinct failures.
    errors = getattr(info.value, "exceptions", [info.value])
    assert errors
    assert all(isinstance(e, AssertionError) for e in errors), errors


def test_state_machine_passes_the_real_one() -> None:
    run_state_machine(in_process_factory(InMemoryMemory), FAST)


def test_suite_fails_on_every_broken_backend(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run is a subprocess: it finds the tests package through PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    classes = "\n".join(
        f"""
class Test{cls.__name__}(MemoryConformance):
    state_machine_settings = settings(
        max_examples=400,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
    )

    def memory_factory(self):
        return in_process_factory(broken_backends.{cls.__name__})()
"""
        for cls in BROKEN
    )
    pytester.makepyfile(
        test_broken=f"""
from hypothesis import Phase, settings
from memmark.core.testing import MemoryConformance
from tests.backends import in_process_factory
from tests.core import broken_backends
{classes}
"""
    )
    # Strict asyncio mode, as in a backend author's project without our config.
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=strict",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= len(BROKEN) * 2, result.stdout.str()[-3000:]
    for cls in BROKEN:
        failed = [
            line
            for line in result.outlines
            if line.startswith(f"FAILED test_broken.py::Test{cls.__name__}::")
        ]
        assert len(failed) >= 2, f"{cls.__name__}: only {failed}"
        assert any("test_state_machine" in line for line in failed), cls.__name__
