"""Shared test configuration: the backends' markers, and the run's throwaway Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memmark.agentscope import agentscope_major
from tests.backends import register_markers
from tests.servers import Cluster, start_cluster

pytest_plugins = ["pytester"]

# AgentScope 1.x and 2.x cannot share an environment: the main one has 1.x,
# and .ci/agentscope2.sh makes one with 2.x that runs tests/agentscope2. Each
# run leaves the other major's tests uncollected.
collect_ignore = ["agentscope2"] if (agentscope_major() or 1) < 2 else ["agentscope"]


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)


# The reliability runs (tests/reliability: concurrent writers, faults,
# cancellation, hostile ids, long sessions, every pair of operations) take
# about seven minutes even at their reduced size: they run with -m slow and
# through tests/reliability/run.py, which publishes their figures; the race
# of writers guarded by expect_version stays in the default run.
_RELIABILITY = Path(__file__).parent / "reliability"
_RELIABILITY_DEFAULT = ("test_expect_version_race.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        if path.is_relative_to(_RELIABILITY) and path.name not in _RELIABILITY_DEFAULT:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A three-master Redis Cluster on free loopback ports, for the whole run."""
    with start_cluster() as cluster:
        yield cluster
