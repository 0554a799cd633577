"""The shared conformance suite on every SQL backend of the table, with and without the cache."""

from __future__ import annotations

import pytest

from tests.backends import BackendConformance, params


class TestSQLConformance(BackendConformance):
    @pytest.fixture(autouse=True, params=params(kind="sql"))
    def _backend(self, request: pytest.FixtureRequest) -> None:
        self.use(request, request.param)


class TestSQLConformanceUncached(BackendConformance):
    """The same suite with ``message_cache=False``: every read goes to the database."""

    @pytest.fixture(autouse=True, params=params(kind="sql"))
    def _backend(self, request: pytest.FixtureRequest) -> None:
        self.use(request, request.param, cache=False)
