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


# The specs of batches, pages, the state slot, upsert/pop and expect_version
# run by default on every in-process row, SQLite and single Redis, and on
# PostgreSQL, MariaDB and Redis Cluster with -m slow: those three run the
# specs' statements and scripts unchanged, and the state machine (which
# drives every operation, the new ones included) still runs on them by
# default. Kept in CI's time budget.
_V2_SPECS = ("_spec_upsert_pop", "_spec_pages", "_spec_state_slot", "_spec_expect_version",
             "_spec_batches")  # fmt: skip
_V2_SLOW_ON = ("postgres", "mariadb", "redis-cluster")


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
        function = getattr(item, "function", None)
        callspec = getattr(item, "callspec", None)
        if function is None or callspec is None:
            continue
        module = function.__module__.rsplit(".", 1)[-1]
        if module in _V2_SPECS and callspec.id.startswith(_V2_SLOW_ON):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A three-master Redis Cluster on free loopback ports, for the whole run."""
    with start_cluster() as cluster:
        yield cluster
