"""The AgentScope 2.x tests: three worker processes for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agentscope2.turns import Worker


@pytest.fixture(scope="session")
def workers() -> Iterator[list[Worker]]:
    """Three spawned processes, each serving the turns sent to it."""
    started = [Worker() for _ in range(3)]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()
