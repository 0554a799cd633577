"""The conformance suite and the state machine on InMemoryMemory."""

from __future__ import annotations

import pytest

from tests.backends import BackendConformance, params


class TestInMemoryConformance(BackendConformance):
    @pytest.fixture(autouse=True, params=params(kind="in-memory"))
    def _backend(self, request: pytest.FixtureRequest) -> None:
        self.use(request, request.param)
