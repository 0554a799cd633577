"""The conformance suite every memmark backend runs.

Subclass :class:`MemoryConformance` in a backend's tests and implement
``memory_factory``; pytest then runs the whole contract, and a Hypothesis
state machine that compares the backend with a plain model, on it::

    class TestMyBackend(MemoryConformance):
        @contextlib.asynccontextmanager
        async def memory_factory(self):
            async def make(user_id, session_id):
                return MyMemory(user_id=user_id, session_id=session_id)
            yield make

Needs the ``testing`` extra: ``pip install 'memmark-core[testing]'``.
"""

from memmark.core.errors import MissingDependencyError

try:
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401
    import pytest_asyncio  # noqa: F401
except ImportError as missing:  # pragma: no cover - the extra is installed where tests run
    raise MissingDependencyError(missing.name or "hypothesis", "memmark-core[testing]") from None

from memmark.core.testing._corpus import COLLIDING_PAIRS, HOSTILE_IDS, HOSTILE_IDS_WITHOUT_NUL
from memmark.core.testing._machine import MemoryMachine, run_state_machine
from memmark.core.testing._model import Model
from memmark.core.testing._suite import MemoryConformance, MemoryFactory

__all__ = [
    "COLLIDING_PAIRS",
    "HOSTILE_IDS",
    "HOSTILE_IDS_WITHOUT_NUL",
    "MemoryConformance",
    "MemoryFactory",
    "MemoryMachine",
    "Model",
    "run_state_machine",
]
