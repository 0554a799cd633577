"""Shared test configuration: the backends' markers, and the run's throwaway Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends import register_markers
from tests.servers import Cluster, start_cluster

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A three-master Redis Cluster on free loopback ports, for the whole run."""
    with start_cluster() as cluster:
        yield cluster
