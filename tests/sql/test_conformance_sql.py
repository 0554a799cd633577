"""The shared conformance suite on every SQL backend of the table, with and without the cache."""

from __future__ import annotations

import pytest

from tests.backends import BackendConformance, backends, params

# Without the cache every read goes to the database: the same statements on
# every SQL database, which the cached suite and the SQL tests run on all
# three. The whole uncached suite runs on SQLite by default and, with
# ``-m slow``, on PostgreSQL and MariaDB too (it doubles the suite's time).
UNCACHED = [
    pytest.param(b, id=b.id, marks=[*b.marks, *([] if b.id == "sqlite" else [pytest.mark.slow])])
    for b in backends(kind="sql")
]


class TestSQLConformance(BackendConformance):
    @pytest.fixture(autouse=True, params=params(kind="sql"))
    def _backend(self, request: pytest.FixtureRequest) -> None:
        self.use(request, request.param)


class TestSQLConformanceUncached(BackendConformance):
    """The same suite with ``message_cache=False``: every read goes to the database."""

    @pytest.fixture(autouse=True, params=UNCACHED)
    def _backend(self, request: pytest.FixtureRequest) -> None:
        self.use(request, request.param, cache=False)
