"""Fixtures of the memmark.agentscope tests; their helpers live in ``agentscope_support``.

The SQL and Redis test helpers are reused from their folders, which pytest
puts on the import path only when it collects tests there.
"""

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("sql", "redis"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))

from agentscope_support import shared_store, store  # noqa: E402
from redis_support import redis_url  # noqa: E402

__all__ = ["redis_url", "shared_store", "store"]
