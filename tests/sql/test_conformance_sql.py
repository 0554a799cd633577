"""The shared conformance suite on every SQL database."""

from __future__ import annotations

import contextlib

import pytest
from sql_support import sql_factory

from memmark.core.testing import MemoryConformance, MemoryFactory


class _SQLConformance(MemoryConformance):
    backend: str

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path = tmp_path_factory.mktemp("sql")

    def memory_factory(self) -> contextlib.AbstractAsyncContextManager[MemoryFactory]:
        return sql_factory(self.backend, self._tmp_path)


class TestSQLiteFile(_SQLConformance):
    backend = "sqlite"


class TestSQLiteMemory(_SQLConformance):
    backend = "sqlite-memory"


@pytest.mark.postgres
class TestPostgres(_SQLConformance):
    backend = "postgres"
    hostile_ids = MemoryConformance.hostile_ids_without_nul


@pytest.mark.mysql
class TestMariaDB(_SQLConformance):
    backend = "mariadb"
