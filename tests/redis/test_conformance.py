"""The shared conformance suite on every Redis backend of the table, with both client kinds."""

from __future__ import annotations

import pytest

from tests.backends import Backend, BackendConformance, backends

# A client that returns bytes, used directly; and one made with
# decode_responses=True, handed over as its pool (the tutorial's FastAPI way).
# A cluster client has no single pool to hand over.
# The decoded pool changes only how replies are read (every script asks for
# bytes): the whole suite runs on it with ``-m slow``; by default the FastAPI
# example and the client tests cover it.
CLIENTS = [
    pytest.param(
        (backend, decoded),
        id=f"{backend.id}-{'decoded-pool' if decoded else 'bytes'}",
        marks=[*backend.marks, *([pytest.mark.slow] if decoded else [])],
    )
    for backend in backends(kind="redis")
    for decoded in ((False,) if backend.id == "redis-cluster" else (False, True))
]


class TestRedisConformance(BackendConformance):
    @pytest.fixture(autouse=True, params=CLIENTS)
    def _backend(self, request: pytest.FixtureRequest) -> None:
        backend, decoded = request.param
        assert isinstance(backend, Backend)
        self.use(request, backend, decoded)
